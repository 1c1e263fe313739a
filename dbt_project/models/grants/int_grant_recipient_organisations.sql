-- The network's registered organisations as grant recipients: one row per area and org-id. A council's
-- departments (or all jobcentres) are several directory organisations under one org-id; a grant to
-- that org-id is a grant to all of them together. Organisations with no org-id cannot be matched.
with organisations as (
    {% for area in var('areas', ['norfolk', 'tower_hamlets', 'oldham', 'swansea_npt']) %}
    select '{{ area }}' as area, organisation_id, organisation_name, org_identifier
    from {{ source('grants_directory', area ~ '_organisations') }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

service_labels as (
    {% for area in var('areas', ['norfolk', 'tower_hamlets', 'oldham', 'swansea_npt']) %}
    select '{{ area }}' as area, organisation_id, unnest(issue_labels) as label
    from {{ source('grants_directory', area ~ '_services') }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

accepted as (
    select distinct s.area, s.organisation_id, m.canonical as issue
    from service_labels as s
    join {{ ref('source_value_map') }} as m on m.area = s.area and m.field = 'issues' and m.label = s.label
)

select
    o.area,
    o.org_identifier,
    string_agg(distinct o.organisation_name, '; ' order by o.organisation_name) as organisation_names,
    list(distinct o.organisation_id order by o.organisation_id) as organisation_ids,
    min(t.organisation_type) as organisation_type,
    coalesce(list(distinct a.issue order by a.issue) filter (where a.issue is not null), []) as issues_accepted
from organisations as o
left join {{ ref('int_organisations') }} as t on t.area = o.area and t.organisation_id = o.organisation_id
left join accepted as a on a.area = o.area and a.organisation_id = o.organisation_id
where o.org_identifier is not null
group by o.area, o.org_identifier
