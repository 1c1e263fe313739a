-- Organisations carrying high demand with little or no funding, per area and year: referrals received
-- in the top quarter of the area's receiving organisations that year, and no matched grant or funding
-- per referral under a quarter of the area's median among funded organisations.
with receiving as (select * from {{ ref('mart_funding_per_referral') }} where referrals_received > 0),

thresholds as (
    select
        area, year,
        quantile_cont(referrals_received, 0.75) as high_demand_threshold,
        median(funding_per_referral_received) filter (where amount_awarded > 0) as area_median_funding_per_referral
    from receiving
    group by area, year
)

select
    r.area,
    r.year,
    r.recipient_key,
    r.org_identifier,
    r.organisation_names,
    r.organisation_type,
    r.referrals_received,
    r.unmet_referrals,
    r.declined_no_capacity,
    r.amount_awarded,
    r.funding_per_referral_received,
    t.area_median_funding_per_referral,
    rank() over (partition by r.area, r.year order by r.referrals_received desc) as demand_rank,
    case when r.amount_awarded = 0 then 'no_funding' else 'little_funding' end as funding_level,
    -- no org-id in the directory: grants to it cannot be matched, so "no funding" may be unseen funding
    r.org_identifier is not null as has_org_identifier
from receiving as r
join thresholds as t using (area, year)
where r.referrals_received >= t.high_demand_threshold
  and (r.amount_awarded = 0
       or r.funding_per_referral_received < 0.25 * t.area_median_funding_per_referral)
