{{ config(tags=['published']) }}
-- Each area's name, its network, when its data starts and how recent it is: the latest change seen in
-- its referrals and the latest landing.
with referrals as (
    select area, min(sent_at) as first_sent_at, max(changed_at) as data_as_of
    from {{ ref('int_referral_versions') }}
    group by area
)

select a.area, a.area_name, a.network_name, cast(r.first_sent_at as date) as first_sent_date, r.data_as_of,
       q.last_batch_at as last_loaded_at
from (select distinct area, area_name, network_name from {{ ref('areas') }}) as a
join referrals as r using (area)
left join {{ ref('mart_reconciliation') }} as q using (area)
