"""The code lists the PARS export writes and the pre-submission check holds values to.

docs/pars.md says where each list comes from. The LMS stores these codes; labels are ACCME's
wording where ACCME published one.
"""

from __future__ import annotations

# ACCME's activity types (its PARS "Activity Type" codes).
ACTIVITY_TYPES: dict[str, str] = {
    "C": "Course",
    "RSS": "Regularly Scheduled Series",
    "IL": "Internet Live Course",
    "EM": "Enduring Material",
    "IEM": "Internet Activity Enduring Material",
    "JN": "Journal-based CME",
    "MR": "Manuscript Review",
    "TIW": "Test Item Writing",
    "CML": "Committee Learning",
    "PI": "Performance Improvement",
    "ISL": "Internet Searching and Learning",
    "LFT": "Learning from Teaching",
}
# Live activities with a place: ACCME needs City and Country (and State in the USA) to open them.
LOCATED_TYPES = frozenset({"C", "RSS"})
SERIES_TYPES = frozenset({"RSS"})
ENDURING_TYPES = frozenset({"EM", "IEM"})

PROVIDERSHIPS = ("Direct", "Joint")

# The credit type whose amount is PARS's "AMA PRA Category 1 Credits Designated".
AMA_CREDIT_TYPE = "ama_pra_1"

# Competencies addressed: ACCME's categories, by a code of ours.
COMPETENCIES: dict[str, str] = {
    "abms_patient_care": "ABMS/ACGME - Patient Care and Procedural Skills",
    "abms_medical_knowledge": "ABMS/ACGME - Medical Knowledge",
    "abms_practice_based_learning": "ABMS/ACGME - Practice-based Learning and Improvement",
    "abms_communication": "ABMS/ACGME - Interpersonal and Communication Skills",
    "abms_professionalism": "ABMS/ACGME - Professionalism",
    "abms_systems_based_practice": "ABMS/ACGME - Systems-based Practice",
    "iom_patient_centered_care": "Institute of Medicine - Provide patient-centered care",
    "iom_interdisciplinary_teams": "Institute of Medicine - Work in interdisciplinary teams",
    "iom_evidence_based_practice": "Institute of Medicine - Employ evidence-based practice",
    "iom_quality_improvement": "Institute of Medicine - Apply quality improvement",
    "iom_informatics": "Institute of Medicine - Utilize informatics",
    "iec_values_ethics": "Interprofessional Education Collaborative - Values/Ethics for Interprofessional Practice",
    "iec_roles_responsibilities": "Interprofessional Education Collaborative - Roles/Responsibilities",
    "iec_communication": "Interprofessional Education Collaborative - Interprofessional Communication",
    "iec_teams_teamwork": "Interprofessional Education Collaborative - Teams and Teamwork",
    "other": "Other Competencies - Competencies other than those listed were addressed",
}

# Certifying boards an activity can be registered with for MOC through PARS.
MOC_BOARDS: dict[str, str] = {
    "ABA": "American Board of Anesthesiology",
    "ABIM": "American Board of Internal Medicine",
    "ABOS": "American Board of Orthopaedic Surgery",
    "ABOHNS": "American Board of Otolaryngology - Head and Neck Surgery",
    "ABPath": "American Board of Pathology",
    "ABP": "American Board of Pediatrics",
    "ABS": "American Board of Surgery",
    "ABTS": "American Board of Thoracic Surgery",
}


def moc_credit_type(board: str) -> str:
    """The LMS credit type carrying a board's MOC points: `abim_moc` for ABIM (our naming rule)."""
    return f"{board.lower()}_moc"


# ISO 3166-1 alpha-3, the country codes of ACCME's country list.
_COUNTRY_CODES = """
ABW AFG AGO AIA ALA ALB AND ARE ARG ARM ASM ATA ATF ATG AUS AUT AZE
BDI BEL BEN BES BFA BGD BGR BHR BHS BIH BLM BLR BLZ BMU BOL BRA BRB BRN BTN BVT BWA
CAF CAN CCK CHE CHL CHN CIV CMR COD COG COK COL COM CPV CRI CUB CUW CXR CYM CYP CZE
DEU DJI DMA DNK DOM DZA
ECU EGY ERI ESH ESP EST ETH
FIN FJI FLK FRA FRO FSM
GAB GBR GEO GGY GHA GIB GIN GLP GMB GNB GNQ GRC GRD GRL GTM GUF GUM GUY
HKG HMD HND HRV HTI HUN
IDN IMN IND IOT IRL IRN IRQ ISL ISR ITA
JAM JEY JOR JPN
KAZ KEN KGZ KHM KIR KNA KOR KWT
LAO LBN LBR LBY LCA LIE LKA LSO LTU LUX LVA
MAC MAF MAR MCO MDA MDG MDV MEX MHL MKD MLI MLT MMR MNE MNG MNP MOZ MRT MSR MTQ MUS MWI MYS MYT
NAM NCL NER NFK NGA NIC NIU NLD NOR NPL NRU NZL
OMN
PAK PAN PCN PER PHL PLW PNG POL PRI PRK PRT PRY PSE PYF
QAT
REU ROU RUS RWA
SAU SDN SEN SGP SGS SHN SJM SLB SLE SLV SMR SOM SPM SRB SSD STP SUR SVK SVN SWE SWZ SXM SYC SYR
TCA TCD TGO THA TJK TKL TKM TLS TON TTO TUN TUR TUV TWN TZA
UGA UKR UMI URY USA UZB
VAT VCT VEN VGB VIR VNM VUT
WLF WSM
YEM
ZAF ZMB ZWE
"""
COUNTRIES = frozenset(_COUNTRY_CODES.split())

# Two-letter postal codes: the 50 states, DC and the inhabited territories.
_STATE_CODES = """
AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND
OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC AS GU MP PR VI
"""
US_STATES = frozenset(_STATE_CODES.split())
