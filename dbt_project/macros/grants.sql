{# True when the grants import has landed its Parquet (it always writes it, possibly empty). A
   warehouse built before any import still builds: the grants models are then empty. Parsing (no
   `execute`) always sees the source, so lineage stays right. #}
{% macro grants_landed() %}
  {% if not execute %}{{ return(true) }}{% endif %}
  {% set path = env_var('CCS_HOME', '../.ccs') ~ '/landing/grants/grants.parquet' %}
  {% set found = run_query("select count(*) from glob('" ~ path ~ "')").columns[0].values()[0] %}
  {{ return(found > 0) }}
{% endmacro %}

{# An org-id's scheme: 'GB-CHC-1092948' -> 'GB-CHC', '360G-NCF-ORG-0038' -> '360G'. #}
{% macro org_id_scheme(column) -%}
case when {{ column }} like '360G-%' then '360G' else regexp_extract({{ column }}, '^([A-Z]{2}-[A-Z]+)', 1) end
{%- endmacro %}
