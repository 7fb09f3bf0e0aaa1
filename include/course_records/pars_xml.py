"""The activity file for PARS's XML batch upload: MedBiquitous MEMS, one MedicalEducationMetrics per activity.

    <ACCMEActivities>
      <MedicalEducationMetrics xmlns="http://ns.medbiq.org/metrics/v1/">   one per activity
        <ReportDescription/>      the reporting year
        <ActivityDescription/>    lom:lom (identity, title, hours, hx:healthcareEducation),
                                  commercial support amounts, designed-to-change answers
        <ParticipationMetrics/>   physicians and other learners
        <XtensibleInfo/>          what MEMS has no element for (cr: elements)
      </MedicalEducationMetrics>
    </ACCMEActivities>

Element names in the MEMS, IEEE LOM, MedBiquitous healthcare LOM and address namespaces are
those schemas' own. ACCME adds its own elements inside XtensibleInfo; its specification of them
was not available when this was written, so those carry names of ours in the `cr:` namespace
(EXTENSION). docs/pars.md lists every element, its source and what was assumed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

from lxml import etree

from include.course_records import pars_codes
from include.course_records.pars_lms import Activity, Counts

MEMS = "http://ns.medbiq.org/metrics/v1/"
LOM = "http://ltsc.ieee.org/xsd/LOM"
HX = "http://ns.medbiq.org/lom/extend/v1/"
ADDRESS = "http://ns.medbiq.org/address/v1/"
# Ours: the home of ACCME's extension fields until their published names replace them (docs/pars.md).
EXTENSION = "urn:x-course-records:pars-extension:1"

ROOT = "ACCMEActivities"
PROVIDER_ACTIVITY_ID_CATALOG = "Provider Activity ID"
PHYSICIANS, OTHER_LEARNERS = "Physicians", "Other Learners"
CURRENCY = "USD"
LANGUAGE = "en"

# Characters XML 1.0 cannot carry, and runs of whitespace: every value is written on one line.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SPACES = re.compile(r"\s+")


def activities_xml(activities: Iterable[tuple[Activity, Counts]], year: int) -> bytes:
    """The upload file for these activities (UTF-8, with declaration); an empty root when there are none."""
    root = etree.Element(ROOT, nsmap={"lom": LOM, "hx": HX, "a": ADDRESS, "cr": EXTENSION})
    for activity, counts in activities:
        root.append(_metrics(activity, counts, year))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _metrics(a: Activity, counts: Counts, year: int) -> etree._Element:
    metrics = etree.Element(_m("MedicalEducationMetrics"), nsmap={None: MEMS})
    report = _sub(metrics, _m("ReportDescription"))
    _sub(report, _m("ReportingStartDate"), f"{year}-01-01")
    _sub(report, _m("ReportingEndDate"), f"{year}-12-31")

    description = _sub(metrics, _m("ActivityDescription"))
    description.append(_lom(a))
    for supporter in a.supporters:
        if supporter.monetary_amount is not None:
            _sub(description, _m("CommercialSupportAmount"), _whole(supporter.monetary_amount),
                 currency=CURRENCY, supportSource=_clean(supporter.name))
    for element, value in (("DesignedToChangeCompetence", a.designed_to_change_competence),
                           ("DesignedToChangePerformance", a.designed_to_change_performance),
                           ("DesignedToChangePatientOutcomes", a.designed_to_change_patient_outcomes),
                           ("ChangesInCompetenceMeasured", a.evaluated_competence),
                           ("ChangesInPerformanceMeasured", a.evaluated_performance),
                           ("ChangesInPatientOutcomesMeasured", a.evaluated_patient_outcomes)):
        if value is not None:
            _sub(description, _m(element), _boolean(value))

    participation = _sub(metrics, _m("ParticipationMetrics"))
    _sub(participation, _m("ParticipantsByCategory"), str(counts.physicians), category=PHYSICIANS)
    _sub(participation, _m("ParticipantsByCategory"), str(counts.other_learners), category=OTHER_LEARNERS)

    metrics.append(_extension(a, year))
    return metrics


def _lom(a: Activity) -> etree._Element:
    lom = etree.Element(_l("lom"))
    general = _sub(lom, _l("general"))
    identifier = _sub(general, _l("identifier"))
    _sub(identifier, _l("catalog"), PROVIDER_ACTIVITY_ID_CATALOG)
    _sub(identifier, _l("entry"), _clean(a.provider_activity_id))
    _sub(_sub(general, _l("title")), _l("string"), _clean(a.title), language=LANGUAGE)
    if a.description:
        _sub(_sub(general, _l("description")), _l("string"), _clean(a.description), language=LANGUAGE)
    if a.hours_of_instruction is not None:
        _sub(_sub(_sub(lom, _l("educational")), _l("typicalLearningTime")), _l("duration"),
             iso_duration(a.hours_of_instruction))

    education = _sub(_sub(lom, _h("healthcareMetadata")), _h("healthcareEducation"))
    credits = _sub(education, _h("credits"))
    _sub(credits, _h("accreditingBody"), "ACCME")
    _sub(credits, _h("activityCertification"), "AMA PRA Category 1 Credit")
    _sub(credits, _h("creditType"), "CME")
    _sub(credits, _h("creditUnit"), "Credit")
    _sub(credits, _h("numberOfCredits"), _decimal(a.credits_designated))
    if a.activity_type in pars_codes.LOCATED_TYPES:
        location = _sub(education, _h("activityLocation"))
        _sub(location, _a("City"), _clean(a.city))
        if a.state:
            _sub(location, _a("StateOrProvince"), _clean(a.state))
        _sub(_sub(location, _a("Country")), _a("CountryCode"), _clean(a.country))
    _sub(education, _h("startDateTime"), f"{a.start_date:%Y-%m-%d}T00:00:00")
    _sub(education, _h("endDateTime"), f"{a.end_date:%Y-%m-%d}T00:00:00")
    _sub(education, _h("activitySponsorship"), _clean(a.providership).lower())
    if a.commercial_support is not None:
        _sub(education, _h("commercialSupport"), "yes" if a.commercial_support else "no")
    return lom


def _extension(a: Activity, year: int) -> etree._Element:
    info = etree.Element(_m("XtensibleInfo"))
    _sub(info, _x("ReportingYear"), str(year))
    _sub(info, _x("ActivityType"), _clean(a.activity_type))
    for name in a.joint_providers:
        _sub(info, _x("JointProvider"), _clean(name))
    for code in a.competencies:
        _sub(info, _x("Competency"), pars_codes.COMPETENCIES[code])
    for supporter in a.supporters:
        if supporter.in_kind:
            _sub(info, _x("InKindSupport"), supportSource=_clean(supporter.name))
    _sub(info, _x("CMEFinder"), "yes" if a.cme_finder else "no")
    for board in a.moc_boards:
        _sub(info, _x("MOCBoard"), board, points=_decimal(a.offered[pars_codes.moc_credit_type(board)]))
    return info


def iso_duration(hours: Decimal) -> str:
    """Hours as an ISO 8601 duration, to the second: 1.5 → PT1H30M, 2 → PT2H, 0 → PT0S."""
    seconds = int((hours * 3600).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    parts = "".join(f"{n}{unit}" for n, unit in ((h, "H"), (m, "M"), (s, "S")) if n)
    return f"PT{parts or '0S'}"


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attributes: str) -> etree._Element:
    child = etree.SubElement(parent, tag, attributes)
    if text is not None:
        child.text = text
    return child


def _m(name: str) -> str:
    return f"{{{MEMS}}}{name}"


def _l(name: str) -> str:
    return f"{{{LOM}}}{name}"


def _h(name: str) -> str:
    return f"{{{HX}}}{name}"


def _a(name: str) -> str:
    return f"{{{ADDRESS}}}{name}"


def _x(name: str) -> str:
    return f"{{{EXTENSION}}}{name}"


def _clean(value: object) -> str:
    return _SPACES.sub(" ", _NOT_XML.sub(" ", "" if value is None else str(value))).strip()


def _decimal(value: Decimal | None) -> str:
    return "" if value is None else format(value, "f")


def _whole(amount: Decimal) -> str:
    # MEMS's CurrencyAmount is an integer: whole currency units, half a unit rounded up
    return str(int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP)))


def _boolean(value: bool) -> str:
    return "true" if value else "false"
