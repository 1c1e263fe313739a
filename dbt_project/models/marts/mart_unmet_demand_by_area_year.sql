-- Demand the network did not meet, per area and year sent: declines by reason (no_capacity is a
-- supply shortfall; not_eligible and out_of_area are provision gaps), expiries, cancellations, and
-- bounces: a referral that is the third or later for the same person and issue within 90 days
-- (its day and the 89 before), none of them accepted.
with referrals as (
    select
        area, referral_id, person_key, primary_issue, sent_at, sent_year, status, decline_reason,
        cast(sent_at as date) as sent_day,
        case when accepted_at is not null then 1 else 0 end as accepted
    from {{ ref('fct_referrals') }}
),

windows as (
    select
        *,
        row_number() over same_need
            - count(*) over (same_need_by_day range between unbounded preceding and 90 preceding) as place_in_90_days,
        sum(accepted) over (same_need_by_day range between 89 preceding and current row) as accepted_in_90_days
    from referrals
    window
        same_need as (partition by area, person_key, primary_issue order by sent_at),
        same_need_by_day as (partition by area, person_key, primary_issue order by date_diff('day', date '1970-01-01', sent_day))
)

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
    count(*) filter (where place_in_90_days >= 3 and accepted_in_90_days = 0) as bounce_referrals,
    count(distinct person_key) filter (where place_in_90_days >= 3 and accepted_in_90_days = 0) as bounced_people
from windows
group by all
