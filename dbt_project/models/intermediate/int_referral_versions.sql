{{ config(materialized='incremental', unique_key=['area', 'referral_id', 'changed_at'],
          incremental_strategy='delete+insert') }}
-- Every area's referral versions in the canonical model: labels mapped to canonical codes through the
-- contracts' mappings (seed source_value_map). A label with no mapping stays null, never guessed.
-- A table, read by several models; incremental: a run reads again only what landed in the day before
-- the latest landing it already holds (a batch landing while a build runs is picked up next time;
-- delete+insert on the version's key makes re-reading harmless).
{% set read_from = {} %}
{% if is_incremental() and execute %}
    {% set query %}
        select area, strftime(cast(max(loaded_at) as timestamptz) at time zone 'UTC' - interval 1 day, '%Y-%m-%dT%H:%M:%S')
        from {{ this }} group by area
    {% endset %}
    {% for row in run_query(query) %}
        {% do read_from.update({row[0]: row[1]}) %}
    {% endfor %}
{% endif %}
with versions as (
    {% for area in areas() %}
    select * from {{ ref('stg_' ~ area ~ '__referrals') }}
    {% if area in read_from %}where loaded_at >= '{{ read_from[area] }}'{% endif %}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

value_map as (select * from {{ ref('source_value_map') }}),

-- each area's issue labels -> canonical codes as one map, looked up label by label (no unnest and regroup)
issue_maps as (
    select area, map(list(label), list(canonical)) as issue_map
    from value_map
    where field = 'issues'
    group by area
),

issue_codes as (
    select v.area, v.referral_id, v.changed_at,
           list_transform(v.issue_labels, lambda label: m.issue_map[label]) as issues
    from versions as v
    left join issue_maps as m using (area)
)

select
    v.area,
    v.referral_id,
    v.changed_at,
    v.sent_at,
    v.accepted_at,
    v.contacted_at,
    v.closed_at,
    status.canonical as status,
    decline.canonical as decline_reason,
    outcome.canonical as outcome,
    i.issues,
    i.issues[1] as primary_issue,
    v.referring_organisation_id,
    v.referrer_user_id,
    v.receiving_service_id,
    v.receiving_organisation_id,
    v.lsoa_code,
    v.lsoa_vintage,
    v.age_band,
    v.batch_id,
    v.loaded_at
from versions as v
left join issue_codes as i using (area, referral_id, changed_at)
left join value_map as status on status.area = v.area and status.field = 'status' and status.label = v.status_label
left join value_map as decline
    on decline.area = v.area and decline.field = 'decline_reason' and decline.label = v.decline_label
left join value_map as outcome on outcome.area = v.area and outcome.field = 'outcome' and outcome.label = v.outcome_label
