-- What the last grants import set aside, by file, field and rule (the rows are in the landing's quarantine).
{% if grants_landed() %}
select source, field, rule, count(*) as failures
from {{ source('grants_landing', 'grants_quarantine') }}
group by all
{% else %}
select cast(null as varchar) as source, cast(null as varchar) as field, cast(null as varchar) as rule,
       cast(null as bigint) as failures
where false
{% endif %}
