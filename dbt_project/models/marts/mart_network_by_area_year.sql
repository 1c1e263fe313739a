{{ config(tags=['published']) }}
-- The network the evaluators measured for Norfolk, for any area and year: referring organisations by
-- type, distinct connections (unordered pairs with at least one referral either way), average
-- distinct partners per connected organisation, referrals to the voluntary sector, LA share, and
-- organisations joining (their first referral sent or received in the data that year).
-- The referrals are counted per (referrer, receiver) first, and everything is worked out from those few
-- thousand flows.
with flows as (
    select area, sent_year as year, referring_organisation_id as referrer, receiving_organisation_id as receiver,
           count(*) as referrals
    from {{ ref('fct_referrals') }}
    group by all
),

typed_flows as (
    select r.*, f.organisation_type as referrer_type, t.organisation_type as receiver_type
    from flows as r
    left join {{ ref('int_organisations') }} as f on f.area = r.area and f.organisation_id = r.referrer
    left join {{ ref('int_organisations') }} as t on t.area = r.area and t.organisation_id = r.receiver
),

pairs as (
    select distinct area, year, least(referrer, receiver) as one, greatest(referrer, receiver) as other
    from flows
    where referrer <> receiver
),

connected as (
    select area, year, count(distinct organisation) as organisations
    from (select area, year, one as organisation from pairs union all select area, year, other from pairs)
    group by all
),

connections as (select area, year, count(*) as connections from pairs group by all),

-- each organisation's first active year is worked out once, in mart_organisations_by_year
joined as (
    select area, year, count(*) filter (where first_year_active = year) as organisations_joined
    from {{ ref('mart_organisations_by_year') }}
    group by all
),

volumes as (
    select
        area,
        year,
        sum(referrals)::bigint as referrals,
        count(distinct referrer) filter (where referrer_type = 'local_authority') as referring_local_authority,
        count(distinct referrer) filter (where referrer_type = 'statutory') as referring_statutory,
        count(distinct referrer) filter (where referrer_type = 'vcs') as referring_vcs,
        coalesce(sum(referrals) filter (where receiver_type = 'vcs'), 0)::bigint as referrals_to_vcs,
        coalesce(sum(referrals) filter (where referrer_type = 'local_authority' or receiver_type = 'local_authority'),
                 0)::bigint as referrals_to_or_from_la
    from typed_flows
    group by all
)

select
    v.*,
    v.referring_local_authority + v.referring_statutory as referring_la_or_statutory,
    c.organisations as connected_organisations,
    n.connections as distinct_connections,
    round(2.0 * n.connections / c.organisations, 3) as average_connections_per_organisation,
    round(v.referrals_to_or_from_la / v.referrals, 4) as la_share,
    coalesce(j.organisations_joined, 0) as organisations_joined
from volumes as v
left join connected as c using (area, year)
left join connections as n using (area, year)
left join joined as j using (area, year)
