-- Each person's referrals per neighbourhood (2011 LSOA) and year in an area (mart_neighbourhood_reach).
-- Built by person.
select area, sent_year as year, lsoa11_code, person_key, count(*) as referrals
from {{ fct_referrals_of_people_to_build() }}
where lsoa11_code is not null
group by all
