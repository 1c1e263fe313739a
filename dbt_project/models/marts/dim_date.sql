{{ config(tags=['published']) }}
-- Every day from 2010 to 2030 (vars calendar_start and calendar_end), with England and Wales working days (weekends and GOV.UK bank
-- holidays excluded). working_day_number counts working days up to and including the day, so the
-- working days d with a < d <= b number working_day_number(b) - working_day_number(a).
with days as (
    select cast(range as date) as date_day
    from range(cast('{{ var("calendar_start", "2010-01-01") }}' as date), cast('{{ var("calendar_end", "2031-01-01") }}' as date), interval 1 day)
),

holidays as (select cast(date as date) as date_day, title from {{ ref('bank_holidays') }})

select
    d.date_day,
    extract(year from d.date_day) as year,
    extract(month from d.date_day) as month,
    isodow(d.date_day) as iso_day_of_week,
    h.title as bank_holiday,
    isodow(d.date_day) <= 5 and h.date_day is null as is_working_day,
    sum(case when isodow(d.date_day) <= 5 and h.date_day is null then 1 else 0 end)
        over (order by d.date_day rows unbounded preceding)::bigint as working_day_number
from days as d
left join holidays as h using (date_day)
