{{ config(tags=['published']) }}
-- The neighbourhoods' boundaries for the dashboards' maps, as GeoJSON geometry text (ONS LSOA 2011
-- boundaries, super-generalised; Source: Office for National Statistics licensed under the Open
-- Government Licence v3.0; contains OS data © Crown copyright and database right 2021).
-- dbt runs in the project folder, so the path is relative to it.
with features as (
    select unnest(json_extract(content::json, '$.features[*]')) as feature
    from read_text('reference/boundaries_lsoa11_bsc.geojson')
)

select g.area, g.lsoa11_code, json_extract(f.feature, '$.geometry')::varchar as geometry
from features as f
join {{ ref('dim_geography') }} as g on g.lsoa11_code = json_extract_string(f.feature, '$.properties.lsoa11_code')
