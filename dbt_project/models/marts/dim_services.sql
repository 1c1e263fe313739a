{{ config(tags=['published']) }}
-- The directories' services: the organisation running each, the canonical issues it accepts, the
-- places it covers (codes of the area's place unit), whether it accepts referrals now, when it went
-- live, and its intake pauses.
select
    s.*,
    count(p.service_id) as intake_pauses,
    coalesce(sum(date_diff('day', p.paused_from, p.paused_to) + 1), 0)::bigint as days_paused
from {{ ref('int_services') }} as s
left join {{ ref('int_intake_pauses') }} as p using (area, service_id)
group by all
