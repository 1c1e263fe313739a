{# A key made of several columns is unique. The repeated keys are found first by a hash of the key (one
   integer per row to group, not the columns themselves: about half the work on 18 million events), then
   checked exactly, so a hash collision can never pass for a repeated key. #}
{% test dbt_utils_unique_combination(model, columns) %}
with repeated_hashes as (
    select hash({{ columns | join(', ') }}) as key_hash
    from {{ model }}
    group by key_hash
    having count(*) > 1
)

select {{ columns | join(', ') }}, count(*) as rows_with_key
from {{ model }}
where hash({{ columns | join(', ') }}) in (select key_hash from repeated_hashes)
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
