-- Each person's months of a year in an area, as bits (bit m - 1 for month m): the distinct people of
-- any month, quarter or year are the rows with one of its bits (mart_area_kpis). Built by person.
select area, sent_year as year, person_key, bit_or(1 << (month(sent_month) - 1)) as months
from {{ fct_referrals_of_people_to_build() }}
group by all
