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

{# The areas this warehouse is built for: those with landed referrals (orchestration/warehouse.py passes
   them as the `areas` var); all four when parsing with nothing landed. #}
{% macro areas() -%}
{{ return(var('areas', ['norfolk', 'tower_hamlets', 'oldham', 'swansea_npt'])) }}
{%- endmacro %}
