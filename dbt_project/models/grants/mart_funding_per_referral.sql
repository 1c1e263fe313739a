-- Each receiving organisation's demand against its grants, per area and year: referrals received,
-- the unmet part (declined for capacity, eligibility or area; expired), grants matched by org-id.
-- Organisations are counted as grant recipients: one row per org-id (a council's departments
-- together); an organisation with no org-id is its own row and can receive no matched grant.
with directory as (
    {% for area in var('areas', ['norfolk', 'tower_hamlets', 'oldham', 'swansea_npt']) %}
    select '{{ area }}' as area, organisation_id, organisation_name, org_identifier
    from {{ source('grants_directory', area ~ '_organisations') }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

keyed as (
    select d.*, coalesce(d.org_identifier, 'unregistered:' || d.organisation_id) as recipient_key, t.organisation_type
    from directory as d
    left join {{ ref('int_organisations') }} as t using (area, organisation_id)
),

entities as (
    select area, recipient_key, min(org_identifier) as org_identifier,
           string_agg(distinct organisation_name, '; ' order by organisation_name) as organisation_names,
           min(organisation_type) as organisation_type
    from keyed group by all
),

-- counted per receiving organisation first, then per recipient (a few thousand rows to join, not every referral)
received as (
    select area, sent_year, receiving_organisation_id as organisation_id,
           count(*) as referrals_received,
           count(*) filter (where status in ('accepted', 'contacted', 'closed')) as accepted,
           count(*) filter (where decline_reason = 'no_capacity') as declined_no_capacity,
           count(*) filter (where decline_reason in ('no_capacity', 'not_eligible', 'out_of_area')
                            or status = 'expired') as unmet_referrals
    from {{ ref('fct_referrals') }}
    group by all
),

demand as (
    select k.area, cast(r.sent_year as integer) as year, k.recipient_key,
           sum(r.referrals_received)::bigint as referrals_received,
           sum(r.accepted)::bigint as accepted,
           sum(r.declined_no_capacity)::bigint as declined_no_capacity,
           sum(r.unmet_referrals)::bigint as unmet_referrals
    from received as r
    join keyed as k on k.area = r.area and k.organisation_id = r.organisation_id
    group by all
),

funding as (
    select area, award_year as year, org_identifier as recipient_key, count(*) as grants, sum(amount_awarded) as amount_awarded
    from {{ ref('int_grants_matched') }}
    where recipient_kind = 'network_organisation'
    group by all
)

select
    e.area,
    cast(coalesce(d.year, f.year) as integer) as year,
    e.recipient_key,
    e.org_identifier,
    e.organisation_names,
    e.organisation_type,
    coalesce(d.referrals_received, 0) as referrals_received,
    coalesce(d.accepted, 0) as accepted,
    coalesce(d.declined_no_capacity, 0) as declined_no_capacity,
    coalesce(d.unmet_referrals, 0) as unmet_referrals,
    coalesce(f.grants, 0) as grants,
    coalesce(f.amount_awarded, 0) as amount_awarded,
    -- a rate only over 8 or more referrals (the disclosure rule's denominator)
    case when d.referrals_received >= 8 then round(coalesce(f.amount_awarded, 0) / d.referrals_received, 2) end
        as funding_per_referral_received
from demand as d
full join funding as f using (area, year, recipient_key)
join entities as e on e.area = coalesce(d.area, f.area) and e.recipient_key = coalesce(d.recipient_key, f.recipient_key)
