{{ config(tags=['published']) }}
-- Demand the network did not meet, per area and year sent: declines by reason (no_capacity is a
-- supply shortfall; not_eligible and out_of_area are provision gaps), expiries, cancellations,
-- bounces and referrals sent while the chosen service's intake was paused.
select
    area,
    sent_year as year,
    count(*) as referrals,
    count(*) filter (where decline_reason = 'no_capacity') as declined_no_capacity,
    count(*) filter (where decline_reason = 'not_eligible') as declined_not_eligible,
    count(*) filter (where decline_reason = 'out_of_area') as declined_out_of_area,
    count(*) filter (where decline_reason = 'client_declined') as declined_by_client,
    count(*) filter (where decline_reason = 'duplicate') as declined_duplicate,
    count(*) filter (where decline_reason = 'other') as declined_other,
    count(*) filter (where status = 'expired') as expired,
    count(*) filter (where status = 'cancelled') as cancelled,
    count(*) filter (where is_bounce) as bounce_referrals,
    count(distinct person_key) filter (where is_bounce) as bounced_people,
    count(*) filter (where sent_during_paused_intake) as sent_during_paused_intake
from {{ ref('fct_referrals') }}
group by all
