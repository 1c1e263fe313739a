-- Every area's directory organisations with their canonical type.
with organisations as (
    {% for area in areas() %}
    select '{{ area }}' as area, organisation_id, organisation_name, organisation_type as type_label, role
    from {{ source('landing', area ~ '_organisations') }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select o.area, o.organisation_id, o.organisation_name, m.organisation_type, o.role
from organisations as o
left join {{ ref('organisation_type_map') }} as m on m.area = o.area and m.label = o.type_label
