-- Each service's intake pauses from the directories: days from and to, both inclusive.
{% for area in areas() %}
select area, service_id, cast(paused_from as date) as paused_from, cast(paused_to as date) as paused_to
from {{ source('landing', area ~ '_intake_pauses') }}
{% if not loop.last %}union all{% endif %}
{% endfor %}
