{{ config(tags=['published']) }}
-- The network picture's nodes and the load each organisation carries, per area and year: referrals
-- sent and received, acceptance, capacity declines, contact SLA as the receiver, and its distinct
-- partners (organisations it sent referrals to or received them from).
-- the referrals counted per (referrer, receiver) first: what each sent, and its partners either way, are
-- worked out from those few thousand flows (not from every referral twice over)
with flows as (
    select area, sent_year as year, referring_organisation_id as referrer, receiving_organisation_id as receiver,
           count(*) as referrals
    from {{ ref('fct_referrals') }} group by all
),

sent as (
    select area, year, referrer as organisation_id, sum(referrals)::bigint as referrals_sent
    from flows group by all
),

received as (
    select
        area,
        sent_year as year,
        receiving_organisation_id as organisation_id,
        count(*) as referrals_received,
        count(*) filter (where accepted_at is not null) as accepted,
        count(*) filter (where accepted_at is not null or decline_reason is not null) as responded,
        count(*) filter (where decline_reason = 'no_capacity') as declined_no_capacity,
        count(*) filter (where sla_due) as sla_due,
        count(*) filter (where sla_met) as sla_met,
        median(working_days_to_contact) as median_working_days_to_contact
    from {{ ref('fct_referrals') }} group by all
),

partners as (
    select area, year, organisation_id, count(distinct partner) as partners
    from (
        select area, year, referrer as organisation_id, receiver as partner from flows where referrer <> receiver
        union all
        select area, year, receiver, referrer from flows where referrer <> receiver
    )
    group by all
),

active as (
    select area, year, organisation_id from sent
    union
    select area, year, organisation_id from received
),

first_active as (select area, organisation_id, min(year) as first_year_active from active group by all)

select
    a.area,
    a.year,
    a.organisation_id,
    coalesce(o.organisation_name, a.organisation_id) as organisation_name,
    coalesce(o.organisation_type, 'unknown') as organisation_type,
    o.role,
    f.first_year_active,
    coalesce(s.referrals_sent, 0) as referrals_sent,
    coalesce(r.referrals_received, 0) as referrals_received,
    coalesce(r.accepted, 0) as accepted,
    coalesce(r.declined_no_capacity, 0) as declined_no_capacity,
    round(r.accepted / nullif(r.responded, 0), 4) as acceptance_rate,
    coalesce(r.sla_due, 0) as sla_due,
    coalesce(r.sla_met, 0) as sla_met,
    r.median_working_days_to_contact,
    coalesce(p.partners, 0) as partners
from active as a
join first_active as f using (area, organisation_id)
left join sent as s using (area, year, organisation_id)
left join received as r using (area, year, organisation_id)
left join partners as p using (area, year, organisation_id)
left join {{ ref('int_organisations') }} as o using (area, organisation_id)
