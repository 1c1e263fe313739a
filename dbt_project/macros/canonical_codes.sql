{# The columns of fct_referrals that hold canonical codes, typed as DuckDB ENUMs of the codes the contracts
   allow (from the seeds written from them): the marts group and filter the ten million referrals by them,
   and an ENUM groups in about half the time text takes (the marts at 10M, one thread: 13.5 -> 8.5 s).
   A code outside the list fails the build, naming the value. At parse time and in unit tests (fixtures
   use codes of their own) the columns stay text. #}
{% macro canonical_code_lists() %}
  {% set value_map %}select distinct canonical from {{ ref('source_value_map') }} where field = {% endset %}
  {{ return({
      'area': 'select distinct area from ' ~ ref('areas'),
      'status': value_map ~ "'status'",
      'decline_reason': value_map ~ "'decline_reason'",
      'outcome': value_map ~ "'outcome'",
      'issue': value_map ~ "'issues'",
      'issue_group': 'select distinct issue_group from ' ~ ref('issue_groups'),
      'organisation_type': 'select distinct organisation_type from ' ~ ref('organisation_type_map'),
  }) }}
{% endmacro %}

{# The type of a column of canonical codes of a kind (a key above): ENUM('a', 'b', ...), as DuckDB writes it back. #}
{% macro canonical_code_type(kind) %}
  {% if model.resource_type == 'unit_test' %}{{ return('varchar') }}{% endif %}
  {% set query = canonical_code_lists()[kind] %}{# its refs are the model's dependencies, found at parse time #}
  {% if not execute %}{{ return('varchar') }}{% endif %}
  {% set codes = [] %}
  {% for code in run_query(query ~ ' order by 1').columns[0].values() if code is not none %}
    {% do codes.append("'" ~ code | replace("'", "''") ~ "'") %}
  {% endfor %}
  {{ return('ENUM(' ~ codes | join(', ') ~ ')') }}
{% endmacro %}

{# A table whose canonical-code column changes type (the contracts allow another code) has it retyped in
   place (dbt's default adds a column, copies, drops and renames: four statements, and DuckDB refuses the
   drop's `cascade`). #}
{% macro duckdb__alter_column_type(relation, column_name, new_column_type) %}
  {% call statement('alter_column_type') %}
    alter table {{ relation.render() }} alter column {{ adapter.quote(column_name) }} type {{ new_column_type }}
  {% endcall %}
{% endmacro %}

{# A published mart's contract types a canonical code as text, and the insert into the contract's table
   casts the ENUM to it, after the grouping. So the contract check takes an ENUM for the text it is
   stored as (dbt's own check compares the type names). #}
{% macro duckdb__format_column(column) %}
  {% set data_type = 'VARCHAR' if (column.dtype | upper).startswith('ENUM(') else column.dtype %}
  {{ return({'name': column.name, 'data_type': data_type, 'formatted': column.column.lower() ~ ' ' ~ data_type}) }}
{% endmacro %}
