{# The big incremental tables (fct_referrals, fct_referral_events) say which build wrote each row
   (`built_at`: the build's start). Their uniqueness tests check only the rows that builds wrote since
   the last build in which all of them passed, and every row until they first pass (each build rewrites
   a few thousand referrals of ten million: checking every row daily was most of a day's test time). A
   build whose tests fail records no pass, so the next build checks its rows again, with its own. Rows
   from before the column (no `built_at`) were checked whole by the builds that wrote them. #}

{# The column: when this build started. #}
{% macro built_at() %}cast('{{ run_started_at.isoformat() }}' as timestamptz){% endmacro %}

{% macro data_tests_passed_relation() %}
  {{ return(api.Relation.create(database=target.database, schema=target.schema, identifier='data_tests_passed')) }}
{% endmacro %}

{# on-run-start: the record of passes: a row per model and build in which every test of the model that
   checks only written rows passed (the build's start). #}
{% macro create_data_tests_passed() %}
  {% if execute %}
    {# in a transaction of its own, committed: a hook's open transaction ends in a rollback #}
    {% call statement('create_data_tests_passed', auto_begin=true) %}
      create table if not exists {{ data_tests_passed_relation() }} (model varchar, passed_at timestamptz)
    {% endcall %}
    {% do adapter.commit() %}
  {% endif %}
{% endmacro %}

{# Whether the model's tests have passed in a build before (when not, they check every row, without
   first finding the rows written: a first build writes them all). #}
{% macro data_tests_passed_before(model) %}
  {% if not execute %}{{ return(false) }}{% endif %}
  {% set found = run_query("select count(*) > 0 from " ~ data_tests_passed_relation()
                           ~ " where model = '" ~ model.identifier ~ "'") %}
  {{ return(found.columns[0].values()[0]) }}
{% endmacro %}

{# The rows of `model` written since the last build in which its tests passed. #}
{% macro written_since_tests_passed(model) %}
  built_at > (select max(passed_at) from {{ data_tests_passed_relation() }} where model = '{{ model.identifier }}')
{% endmacro %}

{# on-run-end: a model passes when every such test of it ran in this build and passed. #}
{% macro record_data_tests_passed(results) %}
  {% if execute %}
    {% set outcomes = {} %}
    {% for result in results if result.node.resource_type == 'test'
                                and (result.node.test_metadata.kwargs or {}).get('rewritten_by') %}
      {% set tested = result.node.attached_node.split('.')[-1] %}
      {% do outcomes.setdefault(tested, []).append(result.status == 'pass') %}
    {% endfor %}
    {% for tested, passes in outcomes.items() %}
      {% set expected = graph.nodes.values() | selectattr('resource_type', 'equalto', 'test')
                        | selectattr('attached_node', 'equalto', 'model.' ~ project_name ~ '.' ~ tested)
                        | selectattr('test_metadata.kwargs.rewritten_by', 'defined') | list | length %}
      {% if passes | length == expected and false not in passes %}
        {% call statement('record_data_tests_passed', auto_begin=true) %}
          insert into {{ data_tests_passed_relation() }} values ('{{ tested }}', {{ built_at() }})
        {% endcall %}
        {% do adapter.commit() %}
      {% endif %}
    {% endfor %}
  {% endif %}
{% endmacro %}
