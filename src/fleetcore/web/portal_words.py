"""The driver portal's words in English, French and Portuguese.

A dictionary per language, keyed like the statement's ``LABELS``
(``fleetcore.trips.statement_render``): the portal has a few dozen short strings, so a
checked-in table needs no extraction or ``.mo`` compilation step, mypy sees every key, and
a test checks every language has every key. When the portal outgrows it, the same keys move
to gettext catalogues.
"""

from __future__ import annotations

PORTAL_LANGUAGES = ("en", "fr", "pt")

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "portal": "Driver portal", "home": "Home", "documents": "Documents",
        "requests": "Requests", "statements": "Statements", "payments": "Payments",
        "charges": "Tolls and fines", "sign_out": "Sign out", "hello": "Hello {name}",
        "my_car": "My car", "no_car": "No car is assigned to you right now.",
        "handover": "Handed over on {day} at {km}", "since": "since {day}",
        "shifts": "This week's shifts", "no_shifts": "No shift this week.",
        "alerts": "Alerts", "expiring": "{document} expires on {day}",
        "expired": "{document} expired on {day}", "no_alerts": "Nothing to renew.",
        "type": "Type", "status": "Status", "expires": "Expires", "file": "File",
        "verified": "Verified", "rejected": "Rejected", "pending": "Waiting for review",
        "no_documents": "No document on file.", "download": "Download",
        "new_request": "New request", "request_type": "Kind", "from": "From", "to": "To",
        "amount": "Amount", "reason": "Reason", "send": "Send",
        "no_requests": "No request yet.", "request_sent": "Your request was sent.",
        "leave": "Leave", "vehicle_change": "Vehicle change",
        "advance_payment": "Advance", "other": "Other",
        "week": "Week", "previous": "Previous week", "next": "Next week",
        "pdf": "Download the PDF", "net": "Net", "paid_at": "Paid on",
        "no_payments": "No payment yet.", "tolls": "Tolls", "fines": "Fines",
        "when": "When", "where": "Where", "evidence": "Evidence", "scan": "Scan",
        "no_tolls": "No toll.", "no_fines": "No fine.", "not_a_driver":
        "The driver portal is for drivers: your account is not a driver's.",
        "language": "Language", "new_document": "Send a document", "document_sent":
        "Your document was sent: it waits for review.", "upload": "Send",
        "support": "Help", "new_ticket": "Ask the fleet's support", "subject": "Subject",
        "message": "Message", "no_tickets": "No question yet.", "ticket_sent":
        "Your question was sent.", "reply": "Answer", "reply_sent": "Your answer was sent.",
        "support_team": "Support", "you": "You", "open": "Open", "resolved": "Resolved",
        "closed": "Closed", "rate": "How did we do? (1 to 5)", "thanks": "Thank you!",
        "all_tickets": "All my questions",
    },
    "fr": {
        "portal": "Espace chauffeur", "home": "Accueil", "documents": "Documents",
        "requests": "Demandes", "statements": "Relevés", "payments": "Paiements",
        "charges": "Péages et amendes", "sign_out": "Se déconnecter",
        "hello": "Bonjour {name}", "my_car": "Ma voiture",
        "no_car": "Aucune voiture ne vous est attribuée en ce moment.",
        "handover": "Remise le {day} à {km}", "since": "depuis le {day}",
        "shifts": "Mes créneaux de la semaine", "no_shifts": "Aucun créneau cette semaine.",
        "alerts": "Alertes", "expiring": "{document} expire le {day}",
        "expired": "{document} a expiré le {day}", "no_alerts": "Rien à renouveler.",
        "type": "Type", "status": "Statut", "expires": "Expire le", "file": "Fichier",
        "verified": "Vérifié", "rejected": "Refusé", "pending": "En attente de vérification",
        "no_documents": "Aucun document.", "download": "Télécharger",
        "new_request": "Nouvelle demande", "request_type": "Type", "from": "Du", "to": "Au",
        "amount": "Montant", "reason": "Motif", "send": "Envoyer",
        "no_requests": "Aucune demande.", "request_sent": "Votre demande a été envoyée.",
        "leave": "Congé", "vehicle_change": "Changement de véhicule",
        "advance_payment": "Avance", "other": "Autre",
        "week": "Semaine", "previous": "Semaine précédente", "next": "Semaine suivante",
        "pdf": "Télécharger le PDF", "net": "Net", "paid_at": "Payé le",
        "no_payments": "Aucun paiement.", "tolls": "Péages", "fines": "Amendes",
        "when": "Quand", "where": "Où", "evidence": "Justificatif", "scan": "Scan",
        "no_tolls": "Aucun péage.", "no_fines": "Aucune amende.", "not_a_driver":
        "L'espace chauffeur est réservé aux chauffeurs : votre compte n'en est pas un.",
        "language": "Langue", "new_document": "Envoyer un document", "document_sent":
        "Votre document a été envoyé : il attend sa vérification.", "upload": "Envoyer",
        "support": "Aide", "new_ticket": "Poser une question", "subject": "Sujet",
        "message": "Message", "no_tickets": "Aucune question.", "ticket_sent":
        "Votre question a été envoyée.", "reply": "Répondre",
        "reply_sent": "Votre réponse a été envoyée.", "support_team": "Support",
        "you": "Vous", "open": "Ouverte", "resolved": "Résolue", "closed": "Fermée",
        "rate": "Votre avis ? (1 à 5)", "thanks": "Merci !",
        "all_tickets": "Toutes mes questions",
    },
    "pt": {
        "portal": "Portal do motorista", "home": "Início", "documents": "Documentos",
        "requests": "Pedidos", "statements": "Extratos", "payments": "Pagamentos",
        "charges": "Portagens e multas", "sign_out": "Sair", "hello": "Olá {name}",
        "my_car": "O meu carro", "no_car": "Nenhum carro lhe está atribuído neste momento.",
        "handover": "Entregue em {day} com {km}", "since": "desde {day}",
        "shifts": "Turnos desta semana", "no_shifts": "Nenhum turno esta semana.",
        "alerts": "Alertas", "expiring": "{document} expira em {day}",
        "expired": "{document} expirou em {day}", "no_alerts": "Nada a renovar.",
        "type": "Tipo", "status": "Estado", "expires": "Validade", "file": "Ficheiro",
        "verified": "Verificado", "rejected": "Recusado", "pending": "A aguardar verificação",
        "no_documents": "Nenhum documento.", "download": "Descarregar",
        "new_request": "Novo pedido", "request_type": "Tipo", "from": "De", "to": "Até",
        "amount": "Montante", "reason": "Motivo", "send": "Enviar",
        "no_requests": "Nenhum pedido.", "request_sent": "O seu pedido foi enviado.",
        "leave": "Férias", "vehicle_change": "Troca de viatura",
        "advance_payment": "Adiantamento", "other": "Outro",
        "week": "Semana", "previous": "Semana anterior", "next": "Semana seguinte",
        "pdf": "Descarregar o PDF", "net": "Líquido", "paid_at": "Pago em",
        "no_payments": "Nenhum pagamento.", "tolls": "Portagens", "fines": "Multas",
        "when": "Quando", "where": "Onde", "evidence": "Comprovativo", "scan": "Digitalização",
        "no_tolls": "Nenhuma portagem.", "no_fines": "Nenhuma multa.", "not_a_driver":
        "O portal do motorista é para motoristas: a sua conta não é de motorista.",
        "language": "Idioma", "new_document": "Enviar um documento", "document_sent":
        "O seu documento foi enviado: aguarda verificação.", "upload": "Enviar",
        "support": "Ajuda", "new_ticket": "Fazer uma pergunta", "subject": "Assunto",
        "message": "Mensagem", "no_tickets": "Nenhuma pergunta.", "ticket_sent":
        "A sua pergunta foi enviada.", "reply": "Responder",
        "reply_sent": "A sua resposta foi enviada.", "support_team": "Apoio",
        "you": "Você", "open": "Aberta", "resolved": "Resolvida", "closed": "Fechada",
        "rate": "A sua opinião? (1 a 5)", "thanks": "Obrigado!",
        "all_tickets": "Todas as minhas perguntas",
    },
}


def portal_language(override: str | None, preferred: str | None) -> str:
    """``?lang=`` when it is a portal language, else the driver's preferred language
    (``pt-BR`` → ``pt``), else English."""
    for tag in (override, preferred):
        primary = (tag or "").split("-")[0].lower()
        if primary in PORTAL_LANGUAGES:
            return primary
    return "en"
