{{ config(tags=['published']) }}
-- The neighbourhoods (2011 LSOAs) of the areas served: ward, district, the area's place unit, residents
-- (ONS mid-2019) and deprivation (IMD 2019 in England, WIMD 2019 in Wales; decile 1 = most deprived).
select
    a.area,
    l.lsoa11_code,
    l.lsoa11_name,
    l.ward_code,
    l.ward_name,
    l.lad_code,
    l.lad_name,
    case a.place_unit when 'ward' then l.ward_code else l.lad_code end as place_code,
    case a.place_unit when 'ward' then l.ward_name else l.lad_name end as place_name,
    p.residents_mid2019 as residents,
    d.deprivation_index,
    d.deprivation_rank,
    d.deprivation_decile
from {{ ref('lookup_lsoa11_ward21_lad21') }} as l
join {{ ref('areas') }} as a using (lad_code)
left join {{ ref('population_lsoa11_mid2019') }} as p using (lsoa11_code)
left join {{ ref('deprivation_lsoa11') }} as d using (lsoa11_code)
