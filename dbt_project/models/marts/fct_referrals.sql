-- One row per referral: its latest known state, who it belongs to (pseudonym), where they live, the
-- organisations on each side and their types, its contact SLA, and the unmet-demand flags (bounce,
-- sent while the service's intake was paused).
-- A referral's latest version is its newest change (a version is keyed by referral and change time): a
-- narrow aggregate finds it, then what the bounce windows need of it, and the wide versions are read
-- once and joined to that; never sorted or held in memory (at 10 million referrals that spilled to disk).
with newest as (
    select area, referral_id, max(changed_at) as changed_at from {{ ref('int_referral_versions') }} group by all
),

people as (
    {% for area in areas() %}
    select '{{ area }}' as area, referral_id, person_key from {{ source('landing', area ~ '_people') }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

needs as (
    select v.area, v.referral_id, v.changed_at, p.person_key, v.primary_issue, v.sent_at,
           v.accepted_at is not null as accepted, v.receiving_service_id,
           date_diff('day', date '1970-01-01', cast(v.sent_at as date)) as sent_day
    from {{ ref('int_referral_versions') }} as v
    semi join newest as n using (area, referral_id, changed_at)
    left join people as p using (area, referral_id)
),

-- A bounce: the third or later referral of a person for the same issue within 90 days (the
-- referral's day and the 89 before), none of those accepted. Only a person's issue with three or more
-- referrals can have one, so the windows sort just those (a few percent). They are found by a hash of
-- the three (a collision only adds a need with fewer, which the windows then find is no bounce).
repeated_needs as (
    select hash(area, person_key, primary_issue) as need from needs group by need having count(*) >= 3
),

bounces as (
    select
        area,
        referral_id,
        row_number() over need_in_order
            - count(*) over (need_by_day range between unbounded preceding and 90 preceding) as place_in_90_days,
        count(*) filter (where accepted) over (need_by_day range between 89 preceding and current row)
            as accepted_in_90_days
    from needs
    where hash(area, person_key, primary_issue) in (select need from repeated_needs)
    window
        need_in_order as (partition by area, person_key, primary_issue order by sent_at, referral_id),
        need_by_day as (partition by area, person_key, primary_issue order by sent_day)
),

paused as (
    select distinct n.area, n.referral_id
    from needs as n
    join {{ ref('int_intake_pauses') }} as p
        on p.area = n.area and p.service_id = n.receiving_service_id
        and n.sent_day between date_diff('day', date '1970-01-01', p.paused_from)
                           and date_diff('day', date '1970-01-01', p.paused_to)
),

keyed as (
    select n.area, n.referral_id, n.changed_at, n.person_key,
           coalesce(b.place_in_90_days >= 3 and b.accepted_in_90_days = 0, false) as is_bounce,
           paused.referral_id is not null as sent_during_paused_intake
    from needs as n
    left join bounces as b using (area, referral_id)
    left join paused using (area, referral_id)
),

-- the latest change seen in the area
as_of as (select area, cast(max(changed_at) as date) as as_of_date from {{ ref('int_referral_versions') }} group by area),

dates as (select date_day, working_day_number from {{ ref('dim_date') }}),

organisations as (select area, organisation_id, organisation_type from {{ ref('int_organisations') }}),

referrals as (
    select
        v.area, v.referral_id, k.person_key, v.sent_at, cast(v.sent_at as date) as sent_date, v.status,
        v.decline_reason, v.outcome, v.issues, v.primary_issue, v.accepted_at, v.contacted_at, v.closed_at,
        v.referring_organisation_id, v.referrer_user_id, v.receiving_service_id, v.receiving_organisation_id,
        v.lsoa_code, v.lsoa_vintage,
        case when v.lsoa_vintage = '2011' then v.lsoa_code else bridge.lsoa11_code end as lsoa11_code,
        v.age_band, k.is_bounce, k.sent_during_paused_intake
    from {{ ref('int_referral_versions') }} as v
    join keyed as k using (area, referral_id, changed_at)
    left join {{ ref('int_lsoa21_to_lsoa11') }} as bridge on v.lsoa_vintage = '2021' and bridge.lsoa21_code = v.lsoa_code
)

select
    r.area,
    r.referral_id,
    r.person_key,
    r.sent_at,
    r.sent_date,
    extract(year from r.sent_at) as sent_year,
    cast(date_trunc('month', r.sent_at) as date) as sent_month,
    r.status,
    r.decline_reason,
    r.outcome,
    r.issues,
    r.primary_issue,
    g.issue_group as primary_issue_group,
    r.accepted_at,
    r.contacted_at,
    r.closed_at,
    r.referring_organisation_id,
    r.referrer_user_id,
    referrer.organisation_type as referring_organisation_type,
    r.receiving_service_id,
    r.receiving_organisation_id,
    receiver.organisation_type as receiving_organisation_type,
    r.lsoa_code,
    r.lsoa_vintage,
    r.lsoa11_code,
    geo.place_code,
    r.age_band,
    accepted.working_day_number - sent.working_day_number as working_days_to_accept,
    contacted.working_day_number - sent.working_day_number as working_days_to_contact,
    r.accepted_at is not null and as_of_day.working_day_number - sent.working_day_number >= 8 as sla_due,
    r.accepted_at is not null and as_of_day.working_day_number - sent.working_day_number >= 8
        and r.contacted_at is not null
        and contacted.working_day_number - sent.working_day_number <= 8 as sla_met,
    r.is_bounce,
    r.sent_during_paused_intake
from referrals as r
left join {{ ref('issue_groups') }} as g on g.issue = r.primary_issue
left join organisations as referrer on referrer.area = r.area and referrer.organisation_id = r.referring_organisation_id
left join organisations as receiver on receiver.area = r.area and receiver.organisation_id = r.receiving_organisation_id
left join {{ ref('dim_geography') }} as geo on geo.area = r.area and geo.lsoa11_code = r.lsoa11_code
left join as_of on as_of.area = r.area
left join dates as sent on sent.date_day = r.sent_date
left join dates as accepted on accepted.date_day = cast(r.accepted_at as date)
left join dates as contacted on contacted.date_day = cast(r.contacted_at as date)
left join dates as as_of_day on as_of_day.date_day = as_of.as_of_date
