{# Run at the start of every build (on-run-start): tables an earlier version of the project made that the
   models can no longer add to incrementally are dropped, so this build makes them again whole.
   - fct_referrals with text person keys (person keys are UUIDs now; the people files are linked again). #}
{% macro drop_tables_made_by_earlier_versions() %}
  {% if execute %}
    {% set relation = adapter.get_relation(database=target.database, schema=target.schema, identifier='fct_referrals') %}
    {% if relation is not none %}
      {% set person_key = adapter.get_columns_in_relation(relation) | selectattr('name', 'equalto', 'person_key') | list %}
      {% if person_key and person_key[0].dtype | upper != 'UUID' %}
        {{ log("fct_referrals has text person keys (an earlier version): made again whole", info=true) }}
        {% do adapter.drop_relation(relation) %}
        {% do adapter.commit() %}{# the hook's connection ends in a rollback #}
      {% endif %}
    {% endif %}
  {% endif %}
{% endmacro %}
