-- Each person's referrals per month and primary issue in an area (mart_emerging_issues counts people,
-- not referrals). Built by person.
select area, sent_month as month, primary_issue, person_key, count(*) as referrals
from {{ fct_referrals_of_people_to_build() }}
group by all
