{{ config(tags=['published']) }}
-- The contact SLA per area and year sent: accepted referrals whose 8th working day has passed,
-- how many were contacted within 8 working days, and the breaches (never contacted included).
select
    area,
    sent_year as year,
    count(*) filter (where sla_due) as due,
    count(*) filter (where sla_met) as met,
    count(*) filter (where sla_due and not sla_met) as breaches,
    count(*) filter (where sla_due and contacted_at is null) as never_contacted,
    median(working_days_to_contact) as median_working_days_to_contact
from {{ ref('fct_referrals') }}
group by area, sent_year
