{{ config(tags=['published']) }}
-- The directories' organisations with their canonical type and role.
select * from {{ ref('int_organisations') }}
