{{ config(tags=['published']) }}
-- How far the network reaches each neighbourhood (2011 LSOA), per area and year: referrals and people
-- per 1,000 residents (ONS mid-2019), against deprivation. Under-reached: among the most deprived 20%
-- (decile 1-2) and referred at a rate below the area's median neighbourhood that year.
with years as (select distinct area, sent_year as year from {{ ref('fct_referrals') }}),

counts as (
    select area, year, lsoa11_code, sum(referrals)::bigint as referrals, count(*) as people
    from {{ ref('int_person_neighbourhood_years') }}
    group by all
),

rates as (
    select
        g.area, y.year, g.lsoa11_code, g.lsoa11_name, g.ward_code, g.ward_name, g.lad_code, g.lad_name,
        g.residents, g.deprivation_index, g.deprivation_decile,
        coalesce(c.referrals, 0) as referrals,
        coalesce(c.people, 0) as people,
        round(1000.0 * coalesce(c.referrals, 0) / g.residents, 3) as referrals_per_1000
    from {{ ref('dim_geography') }} as g
    join years as y using (area)
    left join counts as c on c.area = g.area and c.year = y.year and c.lsoa11_code = g.lsoa11_code
)

select
    *,
    median(referrals_per_1000) over (partition by area, year) as area_median_per_1000,
    deprivation_decile <= 2 and referrals_per_1000 < median(referrals_per_1000) over (partition by area, year)
        as is_under_reached
from rates
