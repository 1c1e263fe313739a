{{ config(materialized='incremental', unique_key=['area', 'referral_id', 'event_at', 'status'],
          incremental_strategy='delete+insert') }}
-- One row per change of a referral's status (the canonical lifecycle: sent -> accepted | declined |
-- cancelled | expired; accepted -> contacted -> closed), from the record versions the systems showed.
-- Incremental: a run recomputes only the referrals with a version changed in the last 30 days of what
-- is already built (updates arrive late and out of order), not the whole history.
with versions as (
    select area, referral_id, changed_at, status, decline_reason, outcome, receiving_organisation_id
    from {{ ref('int_referral_versions') }}
    {% if is_incremental() %}
    where (area, referral_id) in (
        select area, referral_id from {{ ref('int_referral_versions') }}
        where changed_at > (select max(event_at) - interval 30 day from {{ this }})
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
    receiving_organisation_id
from changes
where previous_status is distinct from status
