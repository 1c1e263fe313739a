-- The local authority districts (ONS codes) of each area: a grant to no network organisation belongs
-- to the area of its beneficiary location.
select * from (values
    ('norfolk', 'E10000020', 'Norfolk'),
    ('norfolk', 'E07000143', 'Breckland'),
    ('norfolk', 'E07000144', 'Broadland'),
    ('norfolk', 'E07000145', 'Great Yarmouth'),
    ('norfolk', 'E07000146', 'King''s Lynn and West Norfolk'),
    ('norfolk', 'E07000147', 'North Norfolk'),
    ('norfolk', 'E07000148', 'Norwich'),
    ('norfolk', 'E07000149', 'South Norfolk'),
    ('tower_hamlets', 'E09000030', 'Tower Hamlets'),
    ('oldham', 'E08000004', 'Oldham'),
    ('swansea_npt', 'W06000011', 'Swansea'),
    ('swansea_npt', 'W06000012', 'Neath Port Talbot')
) as t (area, lad_code, lad_name)
