{{ config(tags=['published']) }}
-- The headline figures per area and month, quarter and year sent, with the same period a year
-- earlier. A period is complete when the area's data covers all of it: from its first referral to its
-- latest change, which must reach the period's last working day. Growth is given only between two
-- complete periods (a year that started mid-way is no baseline).
-- Counted per month first; a quarter's or year's counts are sums of its months, and its distinct staff
-- accounts and organisations are counted from the distinct (month, account) and such pairs (so the
-- referrals are read a few times, narrowly, never copied once per period type). Distinct people: from
-- each person's months of a year as bits (int_person_years); a month's, quarter's or year's people are
-- the people with any of its bits.
with months as (
    select
        area,
        sent_month as month,
        count(*) as referrals,
        count(*) filter (where accepted_at is not null) as accepted,
        count(*) filter (where accepted_at is not null or decline_reason is not null) as responded,
        count(*) filter (where referring_organisation_type = 'local_authority'
                         or receiving_organisation_type = 'local_authority') as referrals_to_or_from_la
    from {{ ref('fct_referrals') }}
    group by all
),

-- one column per period of the year: "month 1" .. "month 12", "quarter 1" .. "quarter 10" (by first month), "year 1"
people_by_period as (
    select
        area,
        year,
        {% for m in range(12) %}count(*) filter (where months & {{ 2 ** m }} != 0) as "month {{ m + 1 }}",
        {% endfor %}
        {% for q in range(4) %}count(*) filter (where months & {{ 7 * 8 ** q }} != 0) as "quarter {{ 3 * q + 1 }}",
        {% endfor %}
        count(*) as "year 1"
    from {{ ref('int_person_years') }}
    group by all
),

people as (
    select area, split_part(period, ' ', 1) as period_type,
           make_date(year, cast(split_part(period, ' ', 2) as integer), 1) as period_start, people
    from (unpivot people_by_period on columns(* exclude (area, year)) into name period value people)
),

user_months as (select distinct area, sent_month as month, referrer_user_id from {{ ref('fct_referrals') }}),

organisation_months as (
    select distinct area, sent_month as month, referring_organisation_id as organisation_id from {{ ref('fct_referrals') }}
    union
    select distinct area, sent_month, receiving_organisation_id from {{ ref('fct_referrals') }}
),

coverage as (
    select area, min(sent_date) as first_day, max(cast(coalesce(closed_at, contacted_at, accepted_at, sent_at) as date)) as last_day
    from {{ ref('fct_referrals') }} group by area
),

{% set period_types = [('month', 'month'), ('quarter', 'quarter'), ('year', 'year')] %}
figures as (
    {% for period_type, unit in period_types %}
    select
        c.area,
        '{{ period_type }}' as period_type,
        c.period_start,
        cast(c.period_start + interval 1 {{ unit }} as date) as period_end,
        c.referrals,
        p.people,
        u.users_active,
        c.accepted,
        c.responded,
        c.referrals_to_or_from_la
    from (
        select area, cast(date_trunc('{{ unit }}', month) as date) as period_start, sum(referrals)::bigint as referrals,
               sum(accepted)::bigint as accepted, sum(responded)::bigint as responded,
               sum(referrals_to_or_from_la)::bigint as referrals_to_or_from_la
        from months group by all
    ) as c
    join (
        select area, cast(date_trunc('{{ unit }}', month) as date) as period_start,
               count(distinct referrer_user_id) as users_active
        from user_months group by all
    ) as u using (area, period_start)
    join people as p on p.area = c.area and p.period_type = '{{ period_type }}' and p.period_start = c.period_start
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

organisations as (
    {% for period_type, unit in period_types %}
    select area, '{{ period_type }}' as period_type, cast(date_trunc('{{ unit }}', month) as date) as period_start,
           count(distinct organisation_id) as organisations_active
    from organisation_months
    group by all
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

last_working_days as (
    select date_trunc('month', date_day) as month, max(date_day) as last_working_day
    from {{ ref('dim_date') }}
    where is_working_day
    group by all
),

completeness as (
    select f.area, f.period_type, f.period_start,
           c.first_day <= f.period_start and max(w.last_working_day) <= c.last_day as is_complete
    from figures as f
    join coverage as c using (area)
    join last_working_days as w on w.month >= f.period_start and w.month < f.period_end
    group by f.area, f.period_type, f.period_start, c.first_day, c.last_day
),

select
    f.area,
    f.period_type,
    f.period_start,
    case f.period_type
        when 'year' then strftime(f.period_start, '%Y')
        when 'quarter' then strftime(f.period_start, '%Y') || '-Q' || cast(quarter(f.period_start) as varchar)
        else strftime(f.period_start, '%Y-%m')
    end as period_label,
    k.is_complete,
    f.referrals,
    f.people,
    o.organisations_active,
    f.users_active,
    f.accepted,
    f.responded,
    round(f.accepted / nullif(f.responded, 0), 4) as acceptance_rate,
    round(f.referrals_to_or_from_la / f.referrals, 4) as la_share,
    last_year.referrals as referrals_last_year,
    last_year.people as people_last_year,
    case when k.is_complete and last_complete.is_complete then round(f.referrals / last_year.referrals - 1, 4) end
        as referrals_growth,
    case when k.is_complete and last_complete.is_complete then round(f.people / last_year.people - 1, 4) end
        as people_growth
from figures as f
join organisations as o using (area, period_type, period_start)
join completeness as k using (area, period_type, period_start)
left join figures as last_year
    on last_year.area = f.area and last_year.period_type = f.period_type
    and last_year.period_start = f.period_start - interval 1 year
left join completeness as last_complete
    on last_complete.area = f.area and last_complete.period_type = f.period_type
    and last_complete.period_start = f.period_start - interval 1 year
