{{ config(materialized='incremental', unique_key=['area', 'referral_id'], incremental_strategy='delete+insert',
          on_schema_change='append_new_columns', post_hook="{{ record_built_from(this) }}") }}
-- One row per change of a referral's status (the canonical lifecycle: sent -> accepted | declined |
-- cancelled | expired; accepted -> contacted -> closed), from the record versions the systems showed.
-- Incremental: a run works out again all the events of the referrals with versions in batches it has not
-- read (updates arrive late and out of order: a version can fall between two it has seen), and replaces
-- what it holds of them; the same table as building everything (but for `built_at`, the build that
-- wrote the row: macros/rows_written.sql).
{% set built = batches_not_built_from(this) if is_incremental() else {'whole': true} %}
with versions as (
    select area, referral_id, changed_at, status, decline_reason, outcome, receiving_organisation_id
    from {{ ref('int_referral_versions') }}
    {% if not built.whole %}
    where (area, referral_id) in (
        select area, referral_id from {{ ref('int_referral_versions') }} where {{ in_batches(built.new_batches) }}
    )
    {% endif %}
),

changes as (
    select *, lag(status) over (partition by area, referral_id order by changed_at) as previous_status
    from versions
)

select
    area,
    referral_id,
    changed_at as event_at,
    status,
    previous_status,
    decline_reason,
    outcome,
    receiving_organisation_id,
    {{ built_at() }} as built_at
from changes
where previous_status is distinct from status
