{# The landed Parquet of an area (written by ingestion under CCS_HOME). #}
{% macro landed(area, table) -%}
read_parquet('{{ env_var("CCS_HOME", "../.ccs") }}/landing/{{ area }}/{{ table }}/*.parquet', union_by_name = true)
{%- endmacro %}

{% macro landed_file(area, name) -%}
read_parquet('{{ env_var("CCS_HOME", "../.ccs") }}/landing/{{ area }}/{{ name }}.parquet')
{%- endmacro %}

{# A UK wall-clock timestamp from ISO 8601 text with an offset or Z. #}
{% macro uk_local(column) -%}
timezone('Europe/London', cast({{ column }} as timestamptz))
{%- endmacro %}
