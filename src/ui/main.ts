import './retort-app.ts';
