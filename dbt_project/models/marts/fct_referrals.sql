{{ config(materialized='incremental', unique_key=['area', 'referral_id'], incremental_strategy='delete+insert',
          on_schema_change='sync_all_columns',
          pre_hook="{{ record_fct_referrals_change() }}",
          post_hook="{{ record_built_from(this, referrals_reference()) }}") }}
-- One row per referral: its latest known state, who it belongs to (pseudonym), where they live, the
-- organisations on each side and their types, its contact SLA, and the unmet-demand flags (bounce,
-- sent while the service's intake was paused).
--
-- Incremental: a run builds again only the referrals that can have changed, which gives the same table as
-- building everything: those with versions in batches not read before and those the linkage gave another
-- person, with every referral of their people, old and new (a bounce depends on the person's other
-- referrals); and those accepted but not yet due for the contact SLA (the as-of date moves on; it never
-- goes back, as versions are only added), alone: nothing else of them or their people changes. A change in
-- the reference data it joins (directory organisations and intake pauses, issue groups, neighbourhoods,
-- working days) builds everything again.
-- Of the referrals built again, only the rows that differ from the table's are written. The people whose
-- referrals are built again are found by a pre-hook (macros/changed_people.sql), for the models that work
-- by person too.
{% set built = fct_referrals_batches_to_build() %}
{% set version_columns = 'area, referral_id, changed_at, sent_at, accepted_at, contacted_at, closed_at, status, '
    ~ 'decline_reason, outcome, issues, primary_issue, referring_organisation_id, referrer_user_id, '
    ~ 'receiving_service_id, receiving_organisation_id, lsoa_code, lsoa_vintage, age_band' %}
{% if built.whole %}
with people as ({{ people_files() }}),

-- A referral's latest version is its newest change (a version is keyed by referral and change time): a
-- narrow aggregate finds its row, then what the bounce windows need of it, and the wide versions are read
-- once and joined to that; never sorted or held in memory (at 10 million referrals that spilled to disk).
-- The row is the rowid, one integer, not the (area, referral_id, changed_at) strings: smaller to hash and
-- hold, and the joins skip the row groups with no latest version (fct_referrals at 2M: -10% CPU). A unit
-- test's fixture is a CTE, with no rowid: there the key's hash stands in.
{% set version_row = 'hash(area, referral_id, changed_at)' if model.resource_type == 'unit_test' else 'rowid' %}
newest as (
    select arg_max({{ version_row }}, changed_at) as version_row
    from {{ ref('int_referral_versions') }} group by area, referral_id
),

latest_needs as (
    select {{ version_row }} as version_row, area, referral_id, changed_at, primary_issue, sent_at, accepted_at,
           receiving_service_id
    from {{ ref('int_referral_versions') }}
    where {{ version_row }} in (select version_row from newest)
),
{% else %}
with new_versions as (select {{ version_columns }} from {{ ref('int_referral_versions') }} where {{ in_batches(built.new_batches) }}),

-- the people whose referrals may have changed (their keys before and now), and all their referrals
touched_people as (select area, person_key from {{ fct_referrals_change_relations(this).people }}),

-- the referrals the linkage gave a person since the last build (all of them a touched person's)
relinked as (select area, referral_id, person_key from {{ fct_referrals_change_relations(this).relinked }}),

-- the touched people's referrals as the table holds them (a referral given another person since is here
-- under its key before, which is touched too)
held as materialized (
    select rowid as held_row, area, referral_id, person_key from {{ this }} semi join touched_people using (area, person_key)
),

-- the referrals accepted but not yet due for the contact SLA, of people not touched: only their SLA can
-- change, so they are built again from their rows as held, person, bounce and paused intake included
-- (75 thousand at 10 million referrals: with all their people's referrals, two and a half times as many)
sla_only as materialized (
    select rowid as held_row, area, referral_id from {{ this }}
    anti join touched_people using (area, person_key)
    where accepted_at is not null and sla_due is not true
),

-- who each referral built again belongs to now: the person the linkage gave it since, or the one held
people as (
    select area, referral_id, person_key from relinked
    union all
    select area, referral_id, person_key from held anti join relinked using (area, referral_id)
),

-- what the table holds of them, read once: their rows found by the narrow scan above, then read whole
-- (a semi join reads every column of the ten million rows: 0.8 against 0.4 s)
before as (select * from {{ this }} where rowid in (select held_row from held union all select held_row from sla_only)),

-- their latest versions: the newest new one, unless the table holds a newer one (a version read again is
-- the new one). Not a window over new and held rows together: that grouped the whole rows (1.2 s)
newest_new as (
    select * from new_versions qualify row_number() over (partition by area, referral_id order by changed_at desc) = 1
),

latest as (
    select n.* from newest_new as n
    anti join before as b on b.area = n.area and b.referral_id = n.referral_id and b.changed_at > n.changed_at
    union all
    select {{ version_columns }} from before as b
    anti join newest_new as n on n.area = b.area and n.referral_id = b.referral_id and n.changed_at >= b.changed_at
),

latest_needs as (
    select area, referral_id, changed_at, primary_issue, sent_at, accepted_at, receiving_service_id from latest
    anti join sla_only using (area, referral_id)
),
{% endif %}

needs as (
    select {% if built.whole %}v.version_row, {% endif %}v.area, v.referral_id, v.changed_at, p.person_key,
           v.primary_issue, v.sent_at, v.accepted_at is not null as accepted, v.receiving_service_id,
           date_diff('day', date '1970-01-01', cast(v.sent_at as date)) as sent_day
    from latest_needs as v
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
    select {% if built.whole %}n.version_row, {% endif %}n.area, n.referral_id, n.changed_at, n.person_key,
           coalesce(b.place_in_90_days >= 3 and b.accepted_in_90_days = 0, false) as is_bounce,
           paused.referral_id is not null as sent_during_paused_intake
    from needs as n
    left join bounces as b using (area, referral_id)
    left join paused using (area, referral_id)
    {% if not built.whole %}
    union all
    select area, referral_id, changed_at, person_key, is_bounce, sent_during_paused_intake
    from before semi join sla_only using (area, referral_id)
    {% endif %}
),

-- the latest change seen in the area
as_of as (select area, cast(max(changed_at) as date) as as_of_date from {{ ref('int_referral_versions') }} group by area),

dates as (select date_day, working_day_number from {{ ref('dim_date') }}),

organisations as (select area, organisation_id, organisation_type from {{ ref('int_organisations') }}),

referrals as (
    select
        v.area, v.referral_id, v.changed_at, k.person_key, v.sent_at, cast(v.sent_at as date) as sent_date, v.status,
        v.decline_reason, v.outcome, v.issues, v.primary_issue, v.accepted_at, v.contacted_at, v.closed_at,
        v.referring_organisation_id, v.referrer_user_id, v.receiving_service_id, v.receiving_organisation_id,
        v.lsoa_code, v.lsoa_vintage,
        case when v.lsoa_vintage = '2011' then v.lsoa_code else bridge.lsoa11_code end as lsoa11_code,
        v.age_band, k.is_bounce, k.sent_during_paused_intake
    {% if built.whole %}
    from (select *, {{ version_row }} as version_row from {{ ref('int_referral_versions') }}) as v
    join keyed as k using (version_row)
    {% else %}
    from latest as v
    join keyed as k using (area, referral_id, changed_at)
    {% endif %}
    left join {{ ref('int_lsoa21_to_lsoa11') }} as bridge on v.lsoa_vintage = '2021' and bridge.lsoa21_code = v.lsoa_code
),

built_rows as (
    select
        cast(r.area as {{ canonical_code_type('area') }}) as area,
        r.referral_id,
        r.person_key,
        r.changed_at,
        r.sent_at,
        r.sent_date,
        extract(year from r.sent_at) as sent_year,
        cast(date_trunc('month', r.sent_at) as date) as sent_month,
        cast(r.status as {{ canonical_code_type('status') }}) as status,
        cast(r.decline_reason as {{ canonical_code_type('decline_reason') }}) as decline_reason,
        cast(r.outcome as {{ canonical_code_type('outcome') }}) as outcome,
        r.issues,
        cast(r.primary_issue as {{ canonical_code_type('issue') }}) as primary_issue,
        cast(g.issue_group as {{ canonical_code_type('issue_group') }}) as primary_issue_group,
        r.accepted_at,
        r.contacted_at,
        r.closed_at,
        r.referring_organisation_id,
        r.referrer_user_id,
        cast(referrer.organisation_type as {{ canonical_code_type('organisation_type') }}) as referring_organisation_type,
        r.receiving_service_id,
        r.receiving_organisation_id,
        cast(receiver.organisation_type as {{ canonical_code_type('organisation_type') }}) as receiving_organisation_type,
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
        r.sent_during_paused_intake,
        {{ built_at() }} as built_at
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
)

{% if built.whole %}
select * from built_rows
{% else %}
-- only the rebuilt rows that differ from the table's (most are as they were: replacing them too made the
-- commit checkpoint them, a third of the model's time); compared on the columns the table has but
-- `built_at`, the build that wrote the row (macros/rows_written.sql)
{% set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | reject('equalto', 'built_at') | join(', ') %}
select * from built_rows
semi join (
    select {{ columns }} from built_rows
    except
    select {{ columns }} from before
) using (area, referral_id)
{% endif %}
