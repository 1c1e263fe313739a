{{ config(tags=['published']) }}
-- The network picture's edges: referrals from each organisation to each other one, per area and year.
select
    area,
    sent_year as year,
    referring_organisation_id,
    receiving_organisation_id,
    count(*) as referrals
from {{ ref('fct_referrals') }}
group by all
