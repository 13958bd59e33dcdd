"""Knowledge transfer: answer assist, explanations, recommendations, expert finder, KCS loop.

Not built yet (issue 4).
"""
