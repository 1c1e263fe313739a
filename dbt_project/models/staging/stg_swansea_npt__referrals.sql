{{ config(enabled=('swansea_npt' in areas())) }}
-- SNPTRAN's API: UK local times with their offset, bilingual labels, LSOA 2011.
with landed as (select * from {{ source('landing', 'swansea_npt_referrals') }})
select
    'swansea_npt' as area,
    referral_ref as referral_id,
    {{ uk_local('last_modified') }} as changed_at,
    {{ uk_local('date_sent') }} as sent_at,
    {{ uk_local('date_accepted') }} as accepted_at,
    {{ uk_local('date_contacted') }} as contacted_at,
    {{ uk_local('date_completed') }} as closed_at,
    state as status_label,
    decline_reason as decline_label,
    result as outcome_label,
    needs as issue_labels,
    "from.org_ref" as referring_organisation_id,
    "from.user_ref" as referrer_user_id,
    "to.service_ref" as receiving_service_id,
    "to.org_ref" as receiving_organisation_id,
    "person.lsoa11" as lsoa_code,
    '2011' as lsoa_vintage,
    _age_band as age_band,
    _batch_id as batch_id,
    _loaded_at as loaded_at
from landed
