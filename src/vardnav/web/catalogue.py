"""English for every Swedish text of the pages (the Swedish text is the key), and both
languages for the FHIR codes the pages show (status, class, gender…)."""

from __future__ import annotations

ENGLISH: dict[str, str] = {
    "(får inte visas)": "(not shown to you)",
    "(namn saknas)": "(no name)",
    "Alla": "All",
    "Analys": "Test",
    "Andra avdelningar": "Other wards",
    "Ange 1–7 dagar.": "Enter 1–7 days.",
    "Ange ett datum som ÅÅÅÅ-MM-DD.": "Enter a date as YYYY-MM-DD.",
    "Ange ett giltigt personnummer.": "Enter a valid personal identity number.",
    "Ange ett skäl (minst {n} tecken).": "Give a reason (at least {n} characters).",
    "Ange mötestid som ÅÅÅÅ-MM-DD TT:MM.": "Enter the meeting time as YYYY-MM-DD HH:MM.",
    "Ange om patienten samtycker.": "Say whether the patient consents.",
    "Ange patientens personnummer.": "Enter the patient's personal identity number.",
    "Ange spärrens id (visas i meddelandet om spärrad information).":
        "Enter the block's id (shown in the notice about blocked information).",
    "Ansvarig läkare": "Responsible physician",
    "Ansvarig sjuksköterska": "Responsible nurse",
    "Ansvarig sjuksköterska (valfritt)": "Responsible nurse (optional)",
    "Antal dagar (1–7)": "Number of days (1–7)",
    "Användare": "User",
    "Användare (HSA-id)": "User (HSA id)",
    "Avdelning": "Ward",
    "Avdelningens sängar: skriv in, flytta, permission och skriv ut.":
        "The ward's beds: admit, transfer, leave and discharge.",
    "Bara för mig": "Only for me",
    "Behov av insatser efter utskrivning": "Support needed after discharge",
    "Bekräfta att det är en nödsituation.": "Confirm that this is an emergency.",
    "Bekräfta att patienten har gett sitt samtycke.": "Confirm that the patient has consented.",
    "Belagda": "Occupied",
    "Belagd": "Occupied",
    "Beläggning": "Bed board",
    "Beläggning: {ward}": "Bed board: {ward}",
    "Beräknad utskrivning": "Expected discharge",
    "Beräknad utskrivning (valfritt, ÅÅÅÅ-MM-DD)": "Expected discharge (optional, YYYY-MM-DD)",
    "Bli fast vårdkontakt": "Become named care contact",
    "Databasen var upptagen. Försök igen.": "The database was busy. Try again.",
    "Demoinloggning": "Demo sign-in",
    "Demoinloggningen är inte påslagen.": "Demo sign-in is not enabled.",
    "Demoregionen: alla demokonton har lösenordet": "Demo region: every demo account has the "
                                                    "password",
    "Det finns spärrad information om patienten hos en annan vårdenhet eller vårdgivare. Den "
    "visas inte.": "There is blocked information about the patient at another care unit or "
                   "provider. It is not shown.",
    "Det krockade med en annan ändring.": "It conflicted with another change.",
    "Det går inte i det här läget.": "That is not possible in the current state.",
    "Det ser ut som ett personnummer men är inte giltigt (kontrollera siffrorna).":
        "This looks like a personal identity number but is not a valid one (check the "
        "digits).",
    "Diagnoser": "Diagnoses",
    "Din enhet tar inte emot meddelanden om samordnad utskrivning.":
        "Your unit does not receive coordinated discharge messages.",
    "Du har inte behörighet till detta.": "You are not allowed to do this.",
    "Du kan spärra en vårdenhets uppgifter mot andra enheter (inre spärr) eller en "
    "vårdgivares uppgifter mot andra vårdgivare (yttre spärr). I en nödsituation kan vården "
    "ändå få veta att spärrade uppgifter finns.":
        "You can block a care unit's information from other units (inner block) or a care "
        "provider's information from other providers (outer block). In an emergency, staff can "
        "still learn that blocked information exists.",
    "Du är inskriven på {ward}.": "You are admitted to {ward}.",
    "Du är patientens fasta vårdkontakt.": "You are the patient's named care contact.",
    "En spärr hävs tillfälligt med patientens samtycke, eller i en nödsituation (kräver "
    "nödåtkomst först), för dig eller din enhet, i högst 7 dagar. Hävningen loggas.":
        "A block is lifted temporarily with the patient's consent, or in an emergency (needs "
        "emergency access first), for you or your unit, for at most 7 days. The lift is "
        "logged.",
    "En vårdenhets uppgifter (inre spärr)": "A care unit's information (inner block)",
    "En vårdgivares uppgifter (yttre spärr)": "A care provider's information (outer block)",
    "Enhet": "Unit",
    "Epikris (valfritt)": "Discharge summary (optional)",
    "Flytta": "Transfer",
    "Flytta patient": "Transfer patient",
    "Formuläret har gått ut": "The form has expired",
    "Formuläret kom inte från den här sidan eller har gått ut. Ladda om sidan och försök "
    "igen.": "The form did not come from this page or has expired. Reload the page and try "
             "again.",
    "Formuläret kunde inte läsas": "The form could not be read",
    "Från (ÅÅÅÅ-MM-DD)": "From (YYYY-MM-DD)",
    "Född": "Born",
    "För min enhet": "For my unit",
    "För vem": "For whom",
    "Försenat": "Overdue",
    "Försök igen": "Try again",
    "Grund": "Basis",
    "Hitta en patient på personnummer eller namn och öppna översikten.":
        "Find a patient by personal identity number or name and open the overview.",
    "Hittades inte": "Not found",
    "Huvudmeny": "Main menu",
    "Här ser du vilka vårdenheter och användare som har läst eller ändrat i din journal, och "
    "när (loggutdrag enligt patientdatalagen).":
        "Here you see which care units and users have read or changed your record, and when "
        "(log extract under the Patient Data Act).",
    "Häv spärr tillfälligt": "Lift block temporarily",
    "Häv spärren": "Lift the block",
    "Häv spärren tillfälligt": "Lift the block temporarily",
    "Häva en spärr": "Lift a block",
    "Inga aktuella ordinationer som du får se.": "No current prescriptions that you may see.",
    "Inga inskrivningsmeddelanden.": "No admission notices.",
    "Inga kända överkänsligheter eller varningar som du får se.":
        "No known hypersensitivities or warnings that you may see.",
    "Inga registrerade.": "None recorded.",
    "Inga samtycken registrerade.": "No consents recorded.",
    "Inga som du får se.": "None that you may see.",
    "Inga spärrar.": "No blocks.",
    "Inga åtkomster under perioden.": "No accesses in the period.",
    "Ingen behörighet": "Not allowed",
    "Ingen patient hittades.": "No patient found.",
    "Ingen patient med det personnumret.": "No patient with that personal identity number.",
    "Ingen pågående inläggning som du får se.": "No current inpatient stay that you may see.",
    "Inloggad": "Signed in",
    "Inskriven": "Admitted",
    "Inskrivningsmeddelanden är skickade till kommunen och vårdcentralen.":
        "Admission notices have been sent to the municipality and the primary care centre.",
    "Inskrivningsmeddelanden, utskrivningsklara patienter och SIP-möten för din enhet.":
        "Admission notices, patients ready for discharge and SIP meetings for your unit.",
    "Invånare": "Residents",
    "Ja": "Yes",
    "Jag intygar att det är en nödsituation.": "I confirm that this is an emergency.",
    "Journal": "Record",
    "Journalen finns inte.": "The record does not exist.",
    "Journalen visar ingen vårdrelation mellan din enhet och patienten. Om du deltar i "
    "patientens vård kan du registrera vårdrelationen med ett skäl. Den gäller i 24 timmar "
    "och granskas i loggen.":
        "The record shows no care relationship between your unit and the patient. If you take "
        "part in the patient's care you may register the relationship with a reason. It lasts "
        "24 hours and is reviewed in the access log.",
    "Kalla till SIP": "Call SIP meeting",
    "Kunde inte utföras": "Could not be done",
    "Kvittera": "Acknowledge",
    "Kvitterat": "Acknowledged",
    "Ladda om sidan och försök igen.": "Reload the page and try again.",
    "Ledig": "Free",
    "Ledig säng på avdelningen": "Free bed on the ward",
    "Lediga": "Free",
    "Logga ut": "Sign out",
    "Logggranskning": "Log review",
    "Loggutdrag": "Log extract",
    "Loggutdrag för en patient": "Log extract for a patient",
    "Läkaren bedömer att patienten behöver insatser efter utskrivningen. "
    "Inskrivningsmeddelanden skickas till hemkommunen och vårdcentralen (inom 24 timmar).":
        "The physician judges that the patient will need support after discharge. Admission "
        "notices are sent to the home municipality and the primary care centre (within 24 "
        "hours).",
    "Läkemedel": "Medications",
    "Meddelanden ({n})": "Messages ({n})",
    "Meddelanden visas för patienter som din enhet får se (vårdrelation och, för annan "
    "vårdgivare, patientens samtycke).":
        "Messages are shown for patients your unit may see (care relationship and, for another "
        "care provider, the patient's consent).",
    "Meddelandena är kvitterade.": "The messages are acknowledged.",
    "Min journal": "My record",
    "Mottagare": "Receiver",
    "Namn": "Name",
    "Nej": "No",
    "NÖDÅTKOMST aktiv i {h} timmar. Åtkomsten loggas och granskas.":
        "EMERGENCY ACCESS active for {h} hours. The access is logged and reviewed.",
    "NÖDÅTKOMST: endast när patienten behöver vård omedelbart och inte kan ge sitt samtycke. "
    "Du får läsa patientens uppgifter hos alla vårdgivare i {h} timmar. Åtkomsten loggas med "
    "ditt skäl och granskas särskilt.":
        "EMERGENCY ACCESS: only when the patient needs care at once and cannot consent. You may "
        "read the patient's information at every care provider for {h} hours. The access is "
        "logged with your reason and reviewed with extra care.",
    "Något gick fel": "Something went wrong",
    "Nytt": "New",
    "Nödsituation": "Emergency",
    "Nödåtkomst": "Emergency access",
    "Okvitterat": "Not acknowledged",
    "Okänd åtgärd.": "Unknown action.",
    "Patient": "Patient",
    "Patient (du får inte se vem)": "Patient (you may not see who)",
    "Patienten finns inte, eller så får du inte se den.":
        "The patient does not exist, or you may not see them.",
    "Patienten har samtyckt till att min vårdgivare tar del av uppgifterna.":
        "The patient has consented to my care provider reading the information.",
    "Patienten är flyttad.": "The patient has been transferred.",
    "Patienten är inskriven.": "The patient has been admitted.",
    "Patienten är utskriven. Sängen ska städas.":
        "The patient has been discharged. The bed is to be cleaned.",
    "Patientens personnummer": "The patient's personal identity number",
    "Patientens samtycke": "The patient's consent",
    "Patientens samtycke ger din vårdgivare rätt att läsa det som andra vårdgivare gjort "
    "tillgängligt, så länge din enhet har en vårdrelation med patienten.":
        "The patient's consent lets your care provider read what other providers have made "
        "available, while your unit has a care relationship with the patient.",
    "Permission": "Leave",
    "Permission registrerad.": "Leave recorded.",
    "Personal": "Staff",
    "Personnummer": "Personal identity number",
    "Personnummer eller namn": "Personal identity number or name",
    "Problem och diagnoser": "Problems and diagnoses",
    "Provsvar": "Test results",
    "Pågående vårdtillfälle": "Current stay",
    "Regel": "Rule",
    "Registrera samtycke": "Record consent",
    "Registrera vårdrelation": "Register care relationship",
    "Resultat": "Result",
    "Roll": "Role",
    "SIP-möte": "SIP meeting",
    "SIP-möte (tid)": "SIP meeting (time)",
    "SIP-mötet är kallat.": "The SIP meeting has been called.",
    "Sammanfattning": "Summary",
    "Sammanfattningen får vara högst 4000 tecken.": "The summary may be at most 4000 "
                                                    "characters.",
    "Samordnad utskrivning": "Coordinated discharge",
    "Samtycken": "Consents",
    "Samtycken och spärrar": "Consents and blocks",
    "Samtycker patienten till att kommunen och vårdcentralen tar del av uppgifterna?":
        "Does the patient consent to the municipality and the primary care centre reading the "
        "information?",
    "Samtycket är registrerat för din vårdgivare.": "The consent is recorded for your care "
                                                    "provider.",
    "Senast": "Deadline",
    "Senaste provsvar": "Recent results",
    "Sidan finns inte.": "The page does not exist.",
    "Sidan kunde inte visas.": "The page could not be shown.",
    "Sidan kunde inte visas. Felet är loggat.": "The page could not be shown. The error has "
                                                "been logged.",
    "Sidan tar inte emot det.": "The page does not accept that.",
    "Sidan är inte till för din roll.": "The page is not for your role.",
    "Sidan är till för loggranskare.": "The page is for log reviewers.",
    "Skicka inskrivningsmeddelanden": "Send admission notices",
    "Skickat": "Sent",
    "Skriv ett personnummer eller ett namn.": "Type a personal identity number or a name.",
    "Skriv in": "Admit",
    "Skriv in här": "Admit here",
    "Skriv in patient": "Admit patient",
    "Skriv ut": "Discharge",
    "Skriv ut patient": "Discharge patient",
    "Skyddad identitet": "Protected identity",
    "Skäl": "Reason",
    "Skäl (obligatoriskt)": "Reason (required)",
    "Skälet får vara högst {n} tecken.": "The reason may be at most {n} characters.",
    "Spärr": "Block",
    "Spärra": "Block",
    "Spärra uppgifter": "Block information",
    "Spärrar": "Blocks",
    "Spärren är hävd.": "The block is lifted.",
    "Spärren är registrerad. Uppgifterna visas inte längre utanför den enhet eller "
    "vårdgivare som har dem.": "The block is registered. The information is no longer shown "
                               "outside the unit or provider that holds it.",
    "Spärren är tillfälligt hävd i {d} dagar. Hävningen loggas.":
        "The block is lifted temporarily for {d} days. The lift is logged.",
    "Spärrens id": "The block's id",
    "Start": "Start",
    "Status": "Status",
    "Städad: markera ledig": "Cleaned: mark free",
    "Städas": "Being cleaned",
    "Stängd": "Closed",
    "Stängda": "Closed",
    "Säng": "Bed",
    "Sängar": "Beds",
    "Sängen är städad och ledig.": "The bed is clean and free.",
    "Sök": "Search",
    "Sök patient": "Find patient",
    "Tid": "Time",
    "Till exempel 19121212-1212, 121212-1212, 1212121212 eller Andersson.":
        "For example 19121212-1212, 121212-1212, 1212121212 or Andersson.",
    "Till innehållet": "Skip to content",
    "Till och med (ÅÅÅÅ-MM-DD)": "Up to and including (YYYY-MM-DD)",
    "Till startsidan": "To the start page",
    "Tillbaka till beläggningen": "Back to the bed board",
    "Tillbaka till logggranskningen": "Back to the log review",
    "Tillbaka till översikten": "Back to the overview",
    "Uppgifterna godtogs inte.": "The information was not accepted.",
    "Uppgiften finns inte, eller så får du inte se den.":
        "It does not exist, or you may not see it.",
    "Uppmärksamhetssignal": "Attention signal",
    "Uppmärksamhet": "Attention",
    "Utskrivning till": "Discharged to",
    "Utskrivningsklar": "Ready for discharge",
    "Utskrivningsklar: mottagarna har meddelats.": "Ready for discharge: the receivers have "
                                                   "been told.",
    "Vad": "What",
    "Vad ska spärras?": "What is to be blocked?",
    "Varför": "Why",
    "Vilka har läst min journal": "Who has read my record",
    "Vill du ändra ett samtycke? Kontakta vårdenheten; den registrerar ändringen.":
        "Want to change a consent? Contact the care unit; it records the change.",
    "Visa": "Show",
    "Visa loggutdrag": "Show log extract",
    "Välj": "Choose",
    "Välj ansvarig läkare.": "Choose the responsible physician.",
    "Välj avdelning.": "Choose a ward.",
    "Välj en användare; den som har flera uppdrag väljer uppdrag efteråt.":
        "Choose a user; someone with several assignments chooses one afterwards.",
    "Välj en avdelning i listan.": "Choose a ward from the list.",
    "Välj en ledig säng eller en annan avdelning.": "Choose a free bed or another ward.",
    "Välj en ledig säng.": "Choose a free bed.",
    "Välj en sjuksköterska i listan.": "Choose a nurse from the list.",
    "Välj för vem spärren hävs.": "Choose for whom the block is lifted.",
    "Välj grund: patientens samtycke eller nödsituation.":
        "Choose the basis: the patient's consent or an emergency.",
    "Välj läkare": "Choose physician",
    "Välj spärr.": "Choose a block.",
    "Välj säng": "Choose bed",
    "Välj vad som ska spärras.": "Choose what to block.",
    "Välj vart patienten skrivs ut.": "Choose where the patient is discharged to.",
    "Välj vårdenhet eller vårdgivare.": "Choose a care unit or care provider.",
    "Väntas in i dag": "Expected in today",
    "Väntas skrivas ut i dag": "Expected discharges today",
    "Vårdenhet": "Care unit",
    "Vårdenhet (HSA-id)": "Care unit (HSA id)",
    "Vårdenhet (inre spärr)": "Care unit (inner block)",
    "Vårdgivare": "Care provider",
    "Vårdgivare (yttre spärr)": "Care provider (outer block)",
    "Vårdkontakter": "Encounters",
    "Vårdrelationen är registrerad i 24 timmar och flaggad för logggranskning.":
        "The care relationship is registered for 24 hours and flagged for log review.",
    "Vårdtillfället finns inte, eller så får du inte se det.":
        "The stay does not exist, or you may not see it.",
    "eller en annan avdelning (utan säng)": "or another ward (without a bed)",
    "från": "from",
    "får ta del av uppgifter från andra vårdgivare": "may read information from other care "
                                                     "providers",
    "nekad": "refused",
    "{n} träffar": "{n} matches",
    "{n} år": "{n} years",
    "{n} åtkomster att granska": "{n} accesses to review",
    "Åter från permission": "Back from leave",
    "Åter från permission.": "Back from leave.",
    "Åtgärder": "Actions",
    "Åtkomster som behöver granskas, och loggutdrag för en patient.":
        "Accesses that need review, and the log extract for a patient.",
    "Öppna med nödåtkomst": "Open with emergency access",
    "Överkänsligheter och varningar": "Hypersensitivities and warnings",
    "Överkänslighet": "Hypersensitivity",
    "Ej skickat": "Not sent",
    "Avslutat": "Closed",
    # Discharge dispositions, message categories, log words, review rules, professions.
    "Hem": "Home",
    "Hem med kommunal vård och omsorg": "Home with municipal care",
    "Särskilt boende": "Nursing home",
    "Annat sjukhus": "Another hospital",
    "Avliden": "Deceased",
    "Inskrivningsmeddelande": "Admission notice",
    "Planeringsunderlag": "Planning information",
    "Meddelande om utskrivningsklar": "Ready for discharge",
    "Utskrivningsklar återkallad": "Ready for discharge withdrawn",
    "Kallelse till SIP": "SIP meeting call",
    "Information inför utskrivning": "Discharge information",
    "Ärendet avslutat": "Case closed",
    "Läste": "Read",
    "Sökte": "Searched",
    "Läste historik": "Read history",
    "Registrerade": "Recorded",
    "Ändrade": "Changed",
    "Tog bort": "Deleted",
    "Åtgärd": "Operation",
    "Ange tid som ÅÅÅÅ-MM-DD TT:MM.": "Enter the time as YYYY-MM-DD HH:MM.",
    "Inskrivningstiden kan inte ligga i framtiden.": "The admission time cannot be in the "
                                                     "future.",
    "Inskriven (valfritt, annars nu)": "Admitted at (optional, else now)",
    "Patienten eller en vårdnadshavare": "The patient or a guardian",
    "Egen registrerad vårdrelation": "Asserted care relationship",
    "Samma efternamn och adress": "Same family name and address",
    "Egen journal": "Own record",
    "Många patienter på en dag": "Many patients in one day",
    "Läkare": "Physician",
    "Sjuksköterska": "Registered nurse",
    "Undersköterska": "Assistant nurse",
    "Fysioterapeut": "Physiotherapist",
    "Arbetsterapeut": "Occupational therapist",
    "Dietist": "Dietitian",
    "Skolsköterska": "School nurse",
    "Skolläkare": "School physician",
    "Kurator": "Social worker",
    "Medicinsk sekreterare": "Medical secretary",
    "Loggranskare": "Log reviewer",
    "Administratör": "Administrator",
}

# FHIR codes shown on the pages, in each language.
CODES: dict[str, tuple[str, str]] = {
    "planned": ("planerad", "planned"), "in-progress": ("pågår", "in progress"),
    "onleave": ("permission", "on leave"), "finished": ("avslutad", "finished"),
    "cancelled": ("avbruten", "cancelled"), "entered-in-error": ("felregistrerad",
                                                                 "entered in error"),
    "arrived": ("anlänt", "arrived"), "triaged": ("triagerad", "triaged"),
    "IMP": ("inneliggande", "inpatient"), "AMB": ("öppenvård", "outpatient"),
    "EMER": ("akut", "emergency"), "HH": ("hemsjukvård", "home health"),
    "male": ("man", "male"), "female": ("kvinna", "female"), "other": ("annat", "other"),
    "unknown": ("okänt", "unknown"), "high": ("hög allvarlighet", "high severity"),
    "low": ("låg allvarlighet", "low severity"), "unable-to-assess": ("ej bedömd",
                                                                      "not assessed"),
    "active": ("aktiv", "active"), "inactive": ("inaktiv", "inactive"),
    "draft": ("utkast", "draft"), "rejected": ("avvisad", "rejected"),
    "proposed": ("föreslagen", "proposed"),
    "inner": ("inre", "inner"), "outer": ("yttre", "outer"),
}
