-- One row per referral: its latest known state, who it belongs to (pseudonym), where they live, the
-- organisations on each side and their types, its contact SLA, and the unmet-demand flags (bounce,
-- sent while the service's intake was paused).
with versions as (select * from {{ ref('int_referral_versions') }}),

latest as (
    select * from versions
    qualify row_number() over (partition by area, referral_id order by changed_at desc) = 1
),

people as (
    {% for area in areas() %}
    select '{{ area }}' as area, referral_id, person_key from {{ source('landing', area ~ '_people') }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

as_of as (select area, cast(max(changed_at) as date) as as_of_date from versions group by area),

dates as (select date_day, working_day_number from {{ ref('dim_date') }}),

organisations as (select area, organisation_id, organisation_type from {{ ref('int_organisations') }}),

paused as (
    select distinct l.area, l.referral_id
    from latest as l
    join {{ ref('int_intake_pauses') }} as p
        on p.area = l.area and p.service_id = l.receiving_service_id
        and cast(l.sent_at as date) between p.paused_from and p.paused_to
),

referrals as (
    select
        l.*,
        p.person_key,
        cast(l.sent_at as date) as sent_date,
        case when l.lsoa_vintage = '2011' then l.lsoa_code else bridge.lsoa11_code end as lsoa11_code
    from latest as l
    left join people as p using (area, referral_id)
    left join {{ ref('int_lsoa21_to_lsoa11') }} as bridge on l.lsoa_vintage = '2021' and bridge.lsoa21_code = l.lsoa_code
),

-- A bounce: the third or later referral of a person for the same issue within 90 days (the
-- referral's day and the 89 before), none of those accepted.
bounces as (
    select
        area,
        referral_id,
        row_number() over same_need
            - count(*) over (same_need_by_day range between unbounded preceding and 90 preceding) as place_in_90_days,
        sum(case when accepted_at is not null then 1 else 0 end)
            over (same_need_by_day range between 89 preceding and current row) as accepted_in_90_days
    from referrals
    window
        same_need as (partition by area, person_key, primary_issue order by sent_at),
        same_need_by_day as (partition by area, person_key, primary_issue
                             order by date_diff('day', date '1970-01-01', sent_date))
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
    b.place_in_90_days >= 3 and b.accepted_in_90_days = 0 as is_bounce,
    paused.referral_id is not null as sent_during_paused_intake
from referrals as r
left join bounces as b using (area, referral_id)
left join paused using (area, referral_id)
left join {{ ref('issue_groups') }} as g on g.issue = r.primary_issue
left join organisations as referrer on referrer.area = r.area and referrer.organisation_id = r.referring_organisation_id
left join organisations as receiver on receiver.area = r.area and receiver.organisation_id = r.receiving_organisation_id
left join {{ ref('dim_geography') }} as geo on geo.area = r.area and geo.lsoa11_code = r.lsoa11_code
left join as_of on as_of.area = r.area
left join dates as sent on sent.date_day = r.sent_date
left join dates as accepted on accepted.date_day = cast(r.accepted_at as date)
left join dates as contacted on contacted.date_day = cast(r.contacted_at as date)
left join dates as as_of_day on as_of_day.date_day = as_of.as_of_date
