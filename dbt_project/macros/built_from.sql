{# What an incremental model built from the referral versions has read: the batches (each landed once, in
   one Parquet file) and a fingerprint of the reference data it joins. Kept in <model>_built_from, written
   by the model's post-hook in the same transaction as the model, and read by its next run to find what is
   new. No such table (a first build, or one from before it existed) means: build everything again. #}

{% macro built_from_relation(model_relation) %}
  {{ return(model_relation.incorporate(path={'identifier': model_relation.identifier ~ '_built_from'})) }}
{% endmacro %}

{# The post-hook: every batch of versions there is now, and the fingerprint. #}
{% macro record_built_from(model_relation, fingerprint='null') %}
create or replace table {{ built_from_relation(model_relation) }} as
select batches.*, {{ fingerprint }} as reference
from (select distinct area, batch_id from {{ ref('int_referral_versions') }}) as batches
{% endmacro %}

{# At run time: the batches the model has not read yet, or none when it must be built again whole (no record,
   or the reference data changed). Returns a dict: {'whole': bool, 'new_batches': [batch ids]}. #}
{% macro batches_not_built_from(model_relation, fingerprint='null') %}
  {% set found = {'whole': true, 'new_batches': []} %}
  {% if not execute %}{{ return(found) }}{% endif %}
  {% set state = adapter.get_relation(database=model_relation.database, schema=model_relation.schema,
                                      identifier=model_relation.identifier ~ '_built_from') %}
  {% if state is none %}{{ return(found) }}{% endif %}
  {% set same %}
    select count(*) > 0 and bool_and(reference is not distinct from {{ fingerprint }}) from {{ state }}
  {% endset %}
  {% if not run_query(same).columns[0].values()[0] %}{{ return(found) }}{% endif %}
  {% set new %}
    select distinct batch_id from {{ ref('int_referral_versions') }}
    where batch_id not in (select batch_id from {{ state }})
    order by batch_id
  {% endset %}
  {% do found.update({'whole': false, 'new_batches': run_query(new).columns[0].values() | list}) %}
  {{ return(found) }}
{% endmacro %}

{# A filter for the versions of those batches. #}
{% macro in_batches(batch_ids) -%}
{% if batch_ids %}batch_id in ('{{ batch_ids | join("', '") }}'){% else %}false{% endif %}
{%- endmacro %}

{# The reference data fct_referrals joins besides the versions and people, as one number. #}
{% macro referrals_reference() %}
(select hash(
    (select sum(hash(area, organisation_id, organisation_type)) from {{ ref('int_organisations') }}),
    (select sum(hash(area, service_id, paused_from, paused_to)) from {{ ref('int_intake_pauses') }}),
    (select sum(hash(issue, issue_group)) from {{ ref('issue_groups') }}),
    (select sum(hash(area, lsoa11_code, place_code)) from {{ ref('dim_geography') }}),
    (select sum(hash(lsoa21_code, lsoa11_code)) from {{ ref('int_lsoa21_to_lsoa11') }}),
    (select sum(hash(date_day, working_day_number)) from {{ ref('dim_date') }})))
{% endmacro %}
