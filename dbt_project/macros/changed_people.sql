{# The people fct_referrals may have changed: the models built by person (models/intermediate/by_person)
   rebuild just those. fct_referrals' pre-hook writes, in the same transaction as its rows:
   - fct_referrals_changed_people: the people (area, person key) whose referrals it builds again, under
     the keys they had before and have now (a person merged into another is under both): the people of
     the referrals with new versions or given a person since;
   - fct_referrals_relinked: the people files' rows (area, referral_id, person_key) of the referrals given
     a person by a linkage run since the last build (new referrals among them): any other referral's
     person is the one the table holds;
   - fct_referrals_change: one row, the build (dbt's invocation id), the build before it, whether this
     build made the table whole, and the last linkage run of each area's people file it read (the
     referrals given another person since are those of later runs: ingest/run.py `link_people`).
   A model that last read fct_referrals at the build before (or this one) needs only these people; any
   other gap (it was not built, or fct_referrals was made whole) means: build everything again. #}

{% macro fct_referrals_change_relations(fct) %}
  {{ return({'change': fct.incorporate(path={'identifier': 'fct_referrals_change'}),
             'people': fct.incorporate(path={'identifier': 'fct_referrals_changed_people'}),
             'relinked': fct.incorporate(path={'identifier': 'fct_referrals_relinked'})}) }}
{% endmacro %}

{# What fct_referrals builds: everything, or the versions of the batches it has not read. Everything when
   built first, when batches_not_built_from says so, when there is no change record (a table from before
   it), or when an area's people file is behind the linkage run last read (an older file put back). #}
{% macro fct_referrals_batches_to_build() %}
  {% set whole = {'whole': true, 'new_batches': []} %}
  {% if not is_incremental() %}{{ return(whole) }}{% endif %}
  {% set change = fct_referrals_change_relations(this).change %}
  {% if not table_exists(change) or not people_files_have_linkage_runs() %}{{ return(whole) }}{% endif %}
  {# (an area new since, or whose file had no linkage runs then, has none recorded) #}
  {% set behind %}
    select coalesce(bool_or(c.linked_up_to[p.area] is null or p.linked_in < c.linked_up_to[p.area]), false)
    from ({{ last_linkage_runs() }}) as p, {{ change }} as c
  {% endset %}
  {% if run_query(behind).columns[0].values()[0] %}{{ return(whole) }}{% endif %}
  {{ return(batches_not_built_from(this, referrals_reference())) }}
{% endmacro %}

{# The people files' rows of the referrals given a person by a linkage run after those fct_referrals last
   read (recorded in `change`): each area's run is written in as a number, so the Parquet reader skips
   the row groups of older runs (each run's rows are written after the rest). Every area has its run
   recorded when fct_referrals is built incrementally (fct_referrals_batches_to_build). #}
{% macro referrals_linked_since(change) %}
  {% set runs = run_query('select unnest(map_keys(linked_up_to)), unnest(map_values(linked_up_to)) from ' ~ change) %}
  select area, referral_id, person_key from ({{ people_files('referral_id, person_key, linked_in') }})
  where linked_in > case area {% for row in runs %}when '{{ row[0] }}' then {{ row[1] }} {% endfor %}end
{% endmacro %}

{# Each area's last linkage run in its people file. #}
{% macro last_linkage_runs() %}
  select area, max(linked_in) as linked_in from ({{ people_files('linked_in') }}) group by area
{% endmacro %}

{# fct_referrals' pre-hook: the people it builds again, then the change (which the first step reads as it
   was before this build). #}
{% macro record_fct_referrals_change() %}
  {% set built = fct_referrals_batches_to_build() %}
  {% set relations = fct_referrals_change_relations(this) %}
  {% set recorded_before = table_exists(relations.change) %}
  {% if built.whole %}
  create or replace table {{ relations.people }} as select null::varchar as area, null::uuid as person_key where false;
  create or replace table {{ relations.relinked }} as
  select null::varchar as area, null::varchar as referral_id, null::uuid as person_key where false;
  {% else %}
  create or replace table {{ relations.relinked }} as {{ referrals_linked_since(relations.change) }};

  -- the referrals first, in a table of their own: DuckDB then knows they are few, and looks them up in
  -- the ten million rows rather than the other way round. (The referrals accepted but not yet due for the
  -- contact SLA are built again too, as the as-of date moves on, but alone: their people are not touched,
  -- see fct_referrals.sql)
  create or replace temp table fct_referrals_touched as
  select area, referral_id from {{ ref('int_referral_versions') }} where {{ in_batches(built.new_batches) }}
  union select area, referral_id from {{ relations.relinked }};

  -- their people before (as the table holds them) and now: a referral's person is the one the table
  -- holds unless the linkage gave it another since
  create or replace table {{ relations.people }} as
  select area, person_key from {{ this }} semi join fct_referrals_touched using (area, referral_id)
  union select area, person_key from {{ relations.relinked }};

  drop table fct_referrals_touched;
  {% endif %}

  create or replace table {{ relations.change }} as
  select '{{ invocation_id }}' as build_id,
         {% if recorded_before %}(select any_value(build_id) from {{ relations.change }}){% else %}null{% endif %}::varchar
             as previous_build_id,
         {{ built.whole }} as whole,
         {% if people_files_have_linkage_runs() %}
         (select map_from_entries(list((area, linked_in))) from ({{ last_linkage_runs() }}))
         {% else %}null::map(varchar, integer){% endif %} as linked_up_to
{% endmacro %}

{# A model built by person (models/intermediate/by_person, configured in dbt_project.yml) reads
   fct_referrals' rows of the people it builds (all of them, when whole); its pre-hook deletes what it
   holds of those people first (everything, if whole); its post-hook records the build of fct_referrals
   it read. Whether it must be built again whole: #}
{% macro must_build_whole_by_person(model_relation) %}
  {% if not execute or model.resource_type == 'unit_test' or not is_incremental() %}{{ return(true) }}{% endif %}
  {% set state = built_from_relation(model_relation) %}
  {% if not table_exists(state) %}{{ return(true) }}{% endif %}
  {% set relations = fct_referrals_change_relations(ref('fct_referrals')) %}
  {% if not table_exists(relations.change) %}{{ return(true) }}{% endif %}
  {% set current %}
    select count(*) = 1 and bool_and(not c.whole and s.fct_referrals_build in (c.build_id, c.previous_build_id))
    from {{ relations.change }} as c, {{ state }} as s
  {% endset %}
  {{ return(not run_query(current).columns[0].values()[0]) }}
{% endmacro %}

{# Its post-hook: the build of fct_referrals it read. #}
{% macro record_fct_referrals_build(model_relation) %}
{% set change = fct_referrals_change_relations(ref('fct_referrals')).change %}
create or replace table {{ built_from_relation(model_relation) }} as
{% if not table_exists(change) %}
select null::varchar as fct_referrals_build
{% else %}
select build_id as fct_referrals_build from {{ change }}
{% endif %}
{% endmacro %}

{% macro fct_referrals_of_people_to_build() %}
  {% if must_build_whole_by_person(this) %}{{ return(ref('fct_referrals')) }}{% endif %}
  {{ return('(select * from ' ~ ref('fct_referrals') ~ ' semi join '
            ~ fct_referrals_change_relations(ref('fct_referrals')).people ~ ' using (area, person_key))') }}
{% endmacro %}

{% macro delete_people_to_build_again() %}
  {% if is_incremental() %}
  delete from {{ this }}
  {% if not must_build_whole_by_person(this) %}
  where (area, person_key) in (select area, person_key from {{ fct_referrals_change_relations(ref('fct_referrals')).people }})
  {% endif %}
  {% endif %}
{% endmacro %}

{# The people files of the areas built: which person each referral belongs to (`columns`: of referral_id,
   person_key, linked_in). #}
{% macro people_files(columns='referral_id, person_key') %}
  {% for area in areas() %}
  select '{{ area }}' as area, {{ columns }} from {{ source('landing', area ~ '_people') }}
  {% if not loop.last %}union all{% endif %}
  {% endfor %}
{% endmacro %}

{# Whether every people file has its linkage runs (`linked_in`): a file linked before they were kept has
   not, until the next ingestion links everything again. #}
{% macro people_files_have_linkage_runs() %}
  {% if not execute %}{{ return(true) }}{% endif %}
  {% for area in areas() %}
    {% set found = run_query('describe select * from ' ~ source('landing', area ~ '_people')) %}
    {% if 'linked_in' not in found.columns[0].values() %}{{ return(false) }}{% endif %}
  {% endfor %}
  {{ return(true) }}
{% endmacro %}

{# Whether a table is there now: fct_referrals' pre-hooks make tables dbt's relation cache (filled when a
   build starts) does not know of. #}
{% macro table_exists(relation) %}
  {% if not execute %}{{ return(false) }}{% endif %}
  {% set found %}
    select count(*) > 0 from information_schema.tables
    where table_catalog = '{{ relation.database }}' and table_schema = '{{ relation.schema }}'
      and table_name = '{{ relation.identifier }}'
  {% endset %}
  {{ return(run_query(found).columns[0].values()[0]) }}
{% endmacro %}
