{{ config(tags=['published']) }}
-- Referrals and their outcomes per area, month sent, primary issue and the types of the organisations
-- on each side. Every measure is a count of referrals, so any roll-up is a sum.
select
    area,
    sent_month as month,
    primary_issue,
    primary_issue_group as issue_group,
    coalesce(referring_organisation_type, 'unknown') as referring_organisation_type,
    coalesce(receiving_organisation_type, 'unknown') as receiving_organisation_type,
    count(*) as referrals,
    count(*) filter (where accepted_at is not null) as accepted,
    count(*) filter (where decline_reason = 'no_capacity') as declined_no_capacity,
    count(*) filter (where decline_reason = 'not_eligible') as declined_not_eligible,
    count(*) filter (where decline_reason = 'out_of_area') as declined_out_of_area,
    count(*) filter (where decline_reason in ('client_declined', 'duplicate', 'other')) as declined_other,
    count(*) filter (where status = 'expired') as expired,
    count(*) filter (where status = 'cancelled') as cancelled,
    count(*) filter (where status = 'sent') as awaiting_response,
    count(*) filter (where sla_due) as sla_due,
    count(*) filter (where sla_met) as sla_met,
    count(*) filter (where sent_during_paused_intake) as sent_during_paused_intake,
    count(*) filter (where is_bounce) as bounce_referrals
from {{ ref('fct_referrals') }}
-- grouped by the codes as they are, a missing type among them, and 'unknown' (no type's code) given after:
-- grouping by the text the coalesce makes took half as long again (10M referrals: 0.37 against 0.25 s)
group by area, sent_month, primary_issue, primary_issue_group, referring_organisation_type, receiving_organisation_type
