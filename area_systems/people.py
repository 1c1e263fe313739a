"""Personal data as the area systems hold it, with the noise of real data entry.

Everything here is invented. Phone numbers come from Ofcom's range reserved for drama (07700 900000 -
900999) and email addresses use the reserved example domains, so no value can be a real person's.
"""

import numpy as np

FIRST_NAMES = (
    "Oliver George Harry Jack Jacob Noah Charlie Thomas Oscar William James Leo Alfie Henry Archie Joshua "
    "Freddie Ethan Isaac Alexander Joseph Edward Samuel Max Daniel Arthur Lucas Mohammed Logan Adam "
    "Zoë Chloë Renée Olivia Amelia Isla Ava Emily Sophia Grace Mia Poppy Ella Lily Evie Isabella Sophie Ivy Freya Harper "
    "Willow Charlotte Jessica Daisy Florence Ruby Chloe Phoebe Evelyn Sienna Alice Millie Matilda Rosie "
    "Susan Karen Tracey Julie Michelle Paul Mark David Steven Gary Lee Wayne Dean Carl Kelly Stacey Gemma "
    "Aisha Fatima Maryam Ayesha Zainab Hafsa Abdul Ibrahim Yusuf Omar Ali Hassan Shahana Rahima Nasrin "
    "Anika Tanvir Rashid Kamal Shirin Bogdan Agnieszka Katarzyna Piotr Tomasz Andrei Elena Ioana Kwame Ama "
    "Jayden Riley Tyler Kyle Callum Connor Liam Declan Aidan Shane Craig Darren Jason Shaun Ryan Luke Jordan "
    "Bradley Reece Jamie Ashley Leanne Kerry Donna Lisa Claire Nicola Joanne Sarah Emma Laura Rebecca Hannah "
    "Amy Lauren Chelsea Jade Courtney Shannon Megan Bethany Abigail Georgia Holly Paige Molly Summer Layla "
    "Maisie Eliza Aria Nancy Margaret Doreen Brenda Maureen Jean Pauline Sandra Linda Patricia Barbara "
    "Brian Keith Kevin Colin Graham Trevor Derek Roy Terry Malcolm Stuart Neil Ian Andrew Robert Michael "
    "Christopher Anthony Simon Martin Richard Peter Stephen Philip Matthew Jonathan Nathan Aaron Dominic"
).split()
LAST_NAMES = (
    "Smith Jones Taylor Brown Williams Wilson Johnson Davies Robinson Wright Thompson Evans Walker White "
    "Roberts Green Hall Wood Jackson Clarke Patel Khan Ahmed Begum Ali Miah Rahman Uddin Hussain Islam "
    "Chowdhury Hossain Akhtar Bibi Kowalski Nowak Popescu Mensah Okafor Harris Lewis Martin Cooper King "
    "Lee Baker Hill Moore Allen Young Turner Mitchell Scott Parker Morris Ward Watson Howard Cox Webb "
    "Pearce Gray Bird Cross Knight Rix Thrower Loades Gotts Curson Seago Bunting Buck Platten Pegg "
    "Ashworth Butterworth Schofield Whitehead Ogden Kershaw Lees Buckley Mellor Ingham"
).split()
WELSH_FIRST_NAMES = (
    "Siân Llŷr Siôn Dafydd Rhiannon Gwenllian Rhodri Gethin Eirlys Bethan Aled Owain Carys Glesni Heledd "
    "Mabli Tomos Gwilym Ieuan Mererid Nia Elen Hywel Steffan Rhian Iwan Cerys Lowri Gruffydd Emyr Meleri "
    "Tegwen Dylan Osian Ffion Catrin Non Gwawr Elis Cai Angharad Dewi Branwen Gareth Huw Rhys Seren Alaw"
).split()
WELSH_LAST_NAMES = (
    "Jones Williams Davies Evans Thomas Roberts Lewis Hughes Morgan Griffiths Owen Rees Price Jenkins "
    "Llewellyn Pritchard Powell Morris Parry Rhŷs ap Dafydd Prŷs Gwŵr Bowen Vaughan Howells Protheroe "
    "Watkins Bevan Prosser Harries Phillips Gâr Tudur Cadwaladr"
).replace("ap Dafydd", "ap_Dafydd").split()
WELSH_LAST_NAMES = [n.replace("_", " ") for n in WELSH_LAST_NAMES]

NOTE_TEMPLATES = (
    "{first} is struggling with {issue} since losing work. Best to call after 3pm on {phone}.",
    "Client ({first} {last}) has no money for the electric meter and two children at home.",
    "{first} was referred by the school; please ring {phone}, do not leave a voicemail.",
    "Spoke with {first} today about {issue}. Very anxious, prefers email: {email}.",
    "Letters from creditors piling up. {first} would like a face to face appointment.",
    "Owes £1,240 in council tax arrears; {first} has a baby due in March.",
    "",
)

ASCII_FOLD = str.maketrans("âêîôûŵŷÂÊÎÔÛŴŶ", "aeiouwyAEIOUWY")


# English place-name surnames (Ashworth, Thornton, Whitfield, ...): real populations have thousands of
# surnames, and linkage must be tested against that variety, not against a few dozen.
SURNAME_STEMS = ("Ash Black Brad Brook Bur Chad Clay Cole Cran Dal Dun East Fair Fox Glad Green Hal Har Hart Hay "
                 "Hol Kings Lang Law Mar Mid Mill Nor Oak Pen Ray Red Rich Rock Ross Sand Shel Stan Stock Sut "
                 "Thorn Wake Wal West Whit Wind Wood Work").split()
SURNAME_ENDINGS = "ton ley field ford wood worth by ham hurst well more bridge combe dale thorpe stead wick land ridge brook".split()
PLACE_SURNAMES = [stem + ending for stem in SURNAME_STEMS for ending in SURNAME_ENDINGS]


def name_pool(welsh: bool) -> tuple[np.ndarray, np.ndarray]:
    """First and last names for an area; Swansea and Neath Port Talbot mix Welsh names in."""
    last = LAST_NAMES + PLACE_SURNAMES
    if welsh:
        return (np.array(WELSH_FIRST_NAMES * 2 + FIRST_NAMES, dtype=object),
                np.array(WELSH_LAST_NAMES * 10 + last, dtype=object))
    return np.array(FIRST_NAMES, dtype=object), np.array(last, dtype=object)


def typo(name: str, rng_value: float) -> str:
    """One realistic keying slip: a dropped, doubled or swapped letter."""
    if len(name) < 4:
        return name + name[-1]
    i = 1 + int(rng_value * (len(name) - 2))
    kind = int(rng_value * 3000) % 3
    if kind == 0:
        return name[:i] + name[i + 1:]
    if kind == 1:
        return name[:i] + name[i] + name[i:]
    return name[:i - 1] + name[i] + name[i - 1] + name[i + 1:]
