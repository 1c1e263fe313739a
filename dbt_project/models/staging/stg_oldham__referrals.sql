{{ config(enabled=('oldham' in areas())) }}
-- OCAN's monthly export: UK local times in ISO form, LSOA 2021. It names the receiving organisation
-- rather than giving its id: the directory gives the id.
with landed as (select * from {{ source('landing', 'oldham_referrals') }}),

organisations as (select organisation_id, organisation_name from {{ source('landing', 'oldham_organisations') }})
select
    'oldham' as area,
    referral_ref as referral_id,
    strptime(modified_at, '%Y-%m-%d %H:%M:%S') as changed_at,
    strptime(created_at, '%Y-%m-%d %H:%M:%S') as sent_at,
    strptime(accepted_at, '%Y-%m-%d %H:%M:%S') as accepted_at,
    strptime(first_contact_at, '%Y-%m-%d %H:%M:%S') as contacted_at,
    strptime(closed_at, '%Y-%m-%d %H:%M:%S') as closed_at,
    current_status as status_label,
    decline_code as decline_label,
    closure_reason as outcome_label,
    string_split(need_codes, '|') as issue_labels,
    from_org_id as referring_organisation_id,
    from_user as referrer_user_id,
    to_service_id as receiving_service_id,
    o.organisation_id as receiving_organisation_id,
    lsoa21 as lsoa_code,
    '2021' as lsoa_vintage,
    _age_band as age_band,
    _batch_id as batch_id,
    _loaded_at as loaded_at
from landed
left join organisations as o on o.organisation_name = landed.to_org_name
