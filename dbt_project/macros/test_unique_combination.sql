{# A key made of several columns is unique. The repeated keys are found first by a hash of the key (one
   integer per row to group, not the columns themselves: about half the work on 18 million events), then
   checked exactly, so a hash collision can never pass for a repeated key.
   `rewritten_by`: for a table whose builds replace all the rows of a group (a referral) at once, only the
   groups with rows written since the table's tests last passed (macros/rows_written.sql); every row
   until they first pass. #}
{% test dbt_utils_unique_combination(model, columns, rewritten_by=none) %}
{% set checked = model %}
{% if rewritten_by and data_tests_passed_before(model) %}
  {% set group = rewritten_by | join(', ') %}
  {% set checked %}(select * from {{ model }} where ({{ group }}) in (
      select {{ group }} from {{ model }} where {{ written_since_tests_passed(model) }})){% endset %}
{% endif %}
with repeated_hashes as (
    select hash({{ columns | join(', ') }}) as key_hash
    from {{ checked }}
    group by key_hash
    having count(*) > 1
)

select {{ columns | join(', ') }}, count(*) as rows_with_key
from {{ checked }}
where hash({{ columns | join(', ') }}) in (select key_hash from repeated_hashes)
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
