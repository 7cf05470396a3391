"""The service layer: owns sessions, transactions, authorisation and the audit log.

Services return data and never print.
"""
