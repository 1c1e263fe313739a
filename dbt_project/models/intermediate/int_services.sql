-- Every area's directory services in the canonical model: the issues each accepts (canonical codes
-- through the contracts' mappings) and the places it covers as codes of the area's place unit
-- (wards in Tower Hamlets and Oldham; districts in Norfolk, by name or "All Norfolk", and Swansea & NPT).
with services as (
    {% for area in areas() %}
    select * from {{ source('landing', area ~ '_services') }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

value_map as (select * from {{ ref('source_value_map') }} where field = 'issues'),

districts as (select distinct lad_code, lad_name from {{ ref('lookup_lsoa11_ward21_lad21') }}),

issues as (
    select s.area, s.service_id, list(distinct m.canonical order by m.canonical) as issues
    from (select area, service_id, unnest(issue_labels) as label from services) as s
    join value_map as m on m.area = s.area and m.label = s.label
    group by all
),

coverage as (
    select c.area, c.service_id, list(distinct coalesce(d.lad_code, a.lad_code, c.place) order by coalesce(d.lad_code, a.lad_code, c.place)) as place_codes
    from (select area, service_id, unnest(coverage) as place from services) as c
    left join districts as d on d.lad_name = c.place
    -- an area-wide service ("All Norfolk") covers every district of its area
    left join {{ ref('areas') }} as a on a.area = c.area and c.place like 'All %'
    group by all
)

select
    s.area,
    s.service_id,
    s.service_name,
    s.organisation_id,
    coalesce(i.issues, []) as issues,
    coalesce(c.place_codes, []) as place_codes,
    s.accepting_referrals,
    cast(s.live_from as date) as live_from
from services as s
left join issues as i using (area, service_id)
left join coverage as c using (area, service_id)
