{{ config(materialized='incremental', unique_key=['area', 'referral_id', 'changed_at'],
          incremental_strategy='delete+insert') }}
-- Every area's referral versions in the canonical model: labels mapped to canonical codes through the
-- contracts' mappings (seed source_value_map). A label with no mapping stays null, never guessed.
-- A table, read by several models; incremental: a run reads only the landed batches it does not hold
-- yet, whenever they landed (a batch is one Parquet file with one batch_id, so the filter skips the
-- other files unread). delete+insert on the version's key makes reading a version again harmless.
{% set new_batches = {} %}
{% if is_incremental() and execute %}
    {% set query %}
        {% for area in areas() %}
        select distinct area, batch_id from {{ ref('stg_' ~ area ~ '__referrals') }}
        {% if not loop.last %}union all{% endif %}
        {% endfor %}
        except
        select distinct area, batch_id from {{ this }}
    {% endset %}
    {% for area in areas() %}{% do new_batches.update({area: []}) %}{% endfor %}
    {% for row in run_query(query) %}
        {% do new_batches[row[0]].append(row[1]) %}
    {% endfor %}
{% endif %}
with versions as (
    {% for area in areas() %}
    select * from {{ ref('stg_' ~ area ~ '__referrals') }}
    {% if area in new_batches %}
    where {{ in_batches(new_batches[area] | sort) }}
    {% endif %}
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

mapped as (
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
        list_transform(v.issue_labels, lambda label: m.issue_map[label]) as issues,
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
    left join issue_maps as m using (area)
    left join value_map as status on status.area = v.area and status.field = 'status' and status.label = v.status_label
    left join value_map as decline
        on decline.area = v.area and decline.field = 'decline_reason' and decline.label = v.decline_label
    left join value_map as outcome
        on outcome.area = v.area and outcome.field = 'outcome' and outcome.label = v.outcome_label
)

select
    area, referral_id, changed_at, sent_at, accepted_at, contacted_at, closed_at, status, decline_reason, outcome,
    issues, issues[1] as primary_issue, referring_organisation_id, referrer_user_id, receiving_service_id,
    receiving_organisation_id, lsoa_code, lsoa_vintage, age_band, batch_id, loaded_at
from mapped
