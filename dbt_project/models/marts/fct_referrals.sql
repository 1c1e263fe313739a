-- One row per referral: its latest known state, who it belongs to, and its contact SLA.
with versions as (select * from {{ ref('int_referral_versions') }}),

latest as (
    select * from versions
    qualify row_number() over (partition by area, referral_id order by changed_at desc) = 1
),

people as (
    {% for area in ['norfolk', 'tower_hamlets', 'oldham', 'swansea_npt'] %}
    select '{{ area }}' as area, referral_id, person_key from {{ source('landing', area ~ '_people') }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

as_of as (select area, cast(max(changed_at) as date) as as_of_date from versions group by area),

dates as (select date_day, working_day_number from {{ ref('dim_date') }})

select
    l.area,
    l.referral_id,
    p.person_key,
    l.sent_at,
    cast(l.sent_at as date) as sent_date,
    extract(year from l.sent_at) as sent_year,
    l.status,
    l.decline_reason,
    l.outcome,
    l.issues,
    l.primary_issue,
    g.issue_group as primary_issue_group,
    l.accepted_at,
    l.contacted_at,
    l.closed_at,
    l.referring_organisation_id,
    l.receiving_service_id,
    l.receiving_organisation_id,
    l.lsoa_code,
    l.lsoa_vintage,
    l.age_band,
    contacted.working_day_number - sent.working_day_number as working_days_to_contact,
    l.accepted_at is not null and as_of_day.working_day_number - sent.working_day_number >= 8 as sla_due,
    l.accepted_at is not null and as_of_day.working_day_number - sent.working_day_number >= 8
        and l.contacted_at is not null
        and contacted.working_day_number - sent.working_day_number <= 8 as sla_met
from latest as l
left join people as p using (area, referral_id)
left join {{ ref('issue_groups') }} as g on g.issue = l.primary_issue
left join as_of using (area)
left join dates as sent on sent.date_day = cast(l.sent_at as date)
left join dates as contacted on contacted.date_day = cast(l.contacted_at as date)
left join dates as as_of_day on as_of_day.date_day = as_of.as_of_date
